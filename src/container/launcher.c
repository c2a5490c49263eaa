/* The launcher table: how a container's processes come to exist.
 *
 * create picks a launcher from the config and keeps its name in state.json; every later
 * command on the container (start, state, kill, exec, ps, pause, resume, update, events,
 * delete) dispatches through it.  A new launcher is a `struct launcher` (internal.h) in its
 * own file, listed in `launchers` below and, when a config can ask for it, in
 * launcher_for_spec. */
#include "container/internal.h"

#include <string.h>

#define HANDLER_ANNOTATION "run.oci.handler"

static const struct launcher *const launchers[] = {
    &launcher_native,
    &launcher_restore,
    &launcher_vm,
};

/* Launchers added at run time (launcher_register): the unit tests' own. */
static const struct launcher *registered[4];
static size_t n_registered;

int launcher_register(const struct launcher *l)
{
        if (launcher_find(l->name) || n_registered == sizeof(registered) / sizeof(registered[0]))
                return -EEXIST;
        registered[n_registered++] = l;
        return 0;
}

const struct launcher *launcher_find(const char *name)
{
        if (!name || !*name)
                return &launcher_native; /* state written before launchers existed */
        for (size_t i = 0; i < sizeof(launchers) / sizeof(launchers[0]); i++)
                if (strcmp(launchers[i]->name, name) == 0)
                        return launchers[i];
        for (size_t i = 0; i < n_registered; i++)
                if (strcmp(registered[i]->name, name) == 0)
                        return registered[i];
        return NULL;
}

static char *known_names(void)
{
        char *s = xstrdup("");
        for (size_t i = 0; i < sizeof(launchers) / sizeof(launchers[0]); i++) {
                char *t = xasprintf("%s%s%s", s, i ? ", " : "", launchers[i]->name);
                free(s);
                s = t;
        }
        return s;
}

int launcher_for_spec(const struct spec *s, const struct launcher **ret, struct cx_error **err)
{
        const char *handler = NULL;
        for (size_t i = 0; i < s->n_annotations; i++)
                if (strcmp(s->annotations[i].key, HANDLER_ANNOTATION) == 0)
                        handler = s->annotations[i].value;
        *ret = handler ? launcher_find(handler) : &launcher_native;
        if (*ret)
                return 0;
        _cleanup_free_ char *known = known_names();
        return cx_error_msg(err, EINVAL,
                            "config.json: annotations.\"" HANDLER_ANNOTATION "\": `%s` is not a "
                            "way this capsa can run a container (it has: %s)",
                            handler, known);
}

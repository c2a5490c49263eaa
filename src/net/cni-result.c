/* net/cni: the result of ADD and the spec's error object, on stdout. */
#include "net/cni-internal.h"

int cni_fail(struct cni *c, int code, const char *msg, const char *fmt, ...)
{
        if (c->code)
                return -1;
        c->code = code;
        c->msg = xstrdup(msg);
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&c->details, fmt, ap) < 0)
                        c->details = NULL;
                va_end(ap);
        }
        return -1;
}

/* A library failure: its message is the details. */
int cni_fail_cx(struct cni *c, int code, const char *msg, struct cx_error *err)
{
        int r = cni_fail(c, code, msg, "%s", err && err->msg ? err->msg : "unknown error");
        cx_error_free(err);
        return r;
}

void cni_print_error(const struct cni *c)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "cniVersion", c->version ? c->version : CNI_DEFAULT_VERSION);
        json_w_key_int(w, "code", c->code);
        json_w_key_str(w, "msg", c->msg);
        if (c->details)
                json_w_key_str(w, "details", c->details);
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, true);
        fputs(s, stdout);
}

/* A value of a parsed document written again (a prevResult passed through) */
static void write_val(struct json_w *w, const struct json_val *v)
{
        int64_t n;
        switch (json_val_type(v)) {
        case JSON_NULL:
                json_w_null(w);
                break;
        case JSON_FALSE:
        case JSON_TRUE:
                json_w_bool(w, json_val_type(v) == JSON_TRUE);
                break;
        case JSON_NUMBER:
                if (json_val_int(v, &n))
                        json_w_int(w, n);
                else
                        json_w_null(w); /* no fractions in a CNI result */
                break;
        case JSON_STRING:
                json_w_str(w, json_val_str(v));
                break;
        case JSON_ARRAY:
                json_w_arr_open(w);
                for (size_t i = 0; i < json_val_len(v); i++)
                        write_val(w, json_val_at(v, i));
                json_w_arr_close(w);
                break;
        case JSON_OBJECT:
                json_w_obj_open(w);
                for (size_t i = 0; i < json_val_len(v); i++) {
                        json_w_key(w, json_val_key(v, i));
                        write_val(w, json_val_at(v, i));
                }
                json_w_obj_close(w);
                break;
        }
}

static void write_elements(struct json_w *w, const struct json_val *arr)
{
        if (json_val_type(arr) == JSON_ARRAY)
                for (size_t i = 0; i < json_val_len(arr); i++)
                        write_val(w, json_val_at(arr, i));
}

static void write_mac(struct json_w *w, const char *key, const uint8_t mac[6])
{
        char s[18];
        snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                 mac[4], mac[5]);
        json_w_key_str(w, key, s);
}

void cni_print_add_result(const struct cni *c, const struct net_endpoint *ep,
                          const uint8_t host_mac[6])
{
        const struct json_val *prev = json_val_get(c->conf, "prevResult");
        const struct json_val *prev_ifs = json_val_get(prev, "interfaces");
        size_t first = json_val_type(prev_ifs) == JSON_ARRAY ? json_val_len(prev_ifs) : 0;
        bool v11 = strcmp(c->version, "1.1.0") == 0;
        char buf[NET_IP_STRLEN + 4];

        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "cniVersion", c->version);

        json_w_key_arr_open(w, "interfaces");
        write_elements(w, prev_ifs);
        json_w_obj_open(w);
        json_w_key_str(w, "name", c->veth);
        write_mac(w, "mac", host_mac);
        if (v11 && ep->mtu)
                json_w_key_u64(w, "mtu", ep->mtu);
        json_w_obj_close(w);
        json_w_obj_open(w);
        json_w_key_str(w, "name", c->ifname);
        write_mac(w, "mac", ep->mac);
        if (v11 && ep->mtu)
                json_w_key_u64(w, "mtu", ep->mtu);
        json_w_key_str(w, "sandbox", c->netns);
        json_w_obj_close(w);
        json_w_arr_close(w);

        json_w_key_arr_open(w, "ips");
        write_elements(w, json_val_get(prev, "ips"));
        for (size_t i = 0; i < ep->n_ips; i++) {
                struct net_cidr a = {.ip = ep->ips[i], .prefix = ep->cidrs[i].prefix};
                json_w_obj_open(w);
                if (cni_version_pre1(c->version))
                        json_w_key_str(w, "version", a.ip.family == AF_INET ? "4" : "6");
                json_w_key_str(w, "address", net_cidr_str(&a, buf));
                if (ep->gateways[i].family)
                        json_w_key_str(w, "gateway", net_ip_str(&ep->gateways[i], buf));
                json_w_key_int(w, "interface", (int64_t)first + 1);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);

        json_w_key_arr_open(w, "routes");
        write_elements(w, json_val_get(prev, "routes"));
        for (size_t i = 0; i < ep->n_ips; i++) {
                if (!ep->gateways[i].family)
                        continue;
                json_w_obj_open(w);
                json_w_key_str(w, "dst", ep->ips[i].family == AF_INET ? "0.0.0.0/0" : "::/0");
                json_w_key_str(w, "gw", net_ip_str(&ep->gateways[i], buf));
                json_w_obj_close(w);
        }
        json_w_arr_close(w);

        json_w_key(w, "dns");
        const struct json_val *dns = json_val_get(prev, "dns");
        if (json_val_type(dns) == JSON_OBJECT) {
                write_val(w, dns);
        } else {
                json_w_obj_open(w);
                json_w_obj_close(w);
        }
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, true);
        fputs(s, stdout);
}

/* ---- commands ------------------------------------------------------------------------------- */

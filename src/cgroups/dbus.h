/* A minimal D-Bus client (dbus.c) for the systemd cgroup driver: connect and authenticate,
 * marshal a method call's body, call and wait for the reply.  Only src/cgroups/ uses it. */
#pragma once

#include "util/util.h"

#include <stdint.h>

struct cg_dbus;

/* A message body under construction; alignment counts from its start. */
struct cg_dbus_buf {
        uint8_t *p;
        size_t len, cap;
};

void cg_dbus_align(struct cg_dbus_buf *b, size_t a);
void cg_dbus_put_u8(struct cg_dbus_buf *b, uint8_t v);
void cg_dbus_put_u32(struct cg_dbus_buf *b, uint32_t v); /* also 'b' (boolean) */
void cg_dbus_put_u64(struct cg_dbus_buf *b, uint64_t v);
void cg_dbus_put_str(struct cg_dbus_buf *b, const char *s); /* 's', 'o' */
void cg_dbus_put_sig(struct cg_dbus_buf *b, const char *s); /* 'g' (a variant's type too) */
/* An array: begin returns where its length goes; end patches it in.  elem_align is 8 for
 * structs and dict entries, 4 for 'u', and so on. */
size_t cg_dbus_array_begin(struct cg_dbus_buf *b, size_t elem_align);
void cg_dbus_array_end(struct cg_dbus_buf *b, size_t at, size_t elem_align);
void cg_dbus_buf_clear(struct cg_dbus_buf *b);

/* As root, systemd's private socket (/run/systemd/private); otherwise, or when it is missing,
 * the system bus (/run/dbus/system_bus_socket). */
int cg_dbus_open(struct cg_dbus **ret, struct cx_error **err);
void cg_dbus_close(struct cg_dbus *b);
void cg_dbus_closep(struct cg_dbus **b);
/* Calls dest's path iface.member with body (signature sig, "" for none).  A D-Bus error reply
 * becomes "MEMBER: ERROR_NAME: MESSAGE" (EEXIST for an existing unit, ENOENT for a missing one,
 * EIO otherwise). */
int cg_dbus_call(struct cg_dbus *b, const char *dest, const char *path, const char *iface,
                 const char *member, const char *sig, const struct cg_dbus_buf *body,
                 struct cx_error **err);

/* An NSS source that folds case and accepts qualified names, as SSSD or
 * winbind with `case_sensitive = false` do: any spelling of CANONICAL, and
 * of CANONICAL@corp.example, is CANONICAL's account, uid and gid ID. With
 * GROUP defined, it also answers the group GROUP (gid ID), the account's
 * primary group, listing it as a member too. Built by
 * common::system::build_folding_nss, which defines PREFIX(f) to name the
 * functions for glibc. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static const char canonical[] = CANONICAL;

static int is_alias(const char *name) {
    size_t n = strlen(canonical);
    if (strcasecmp(name, canonical) == 0)
        return 1;
    return strncasecmp(name, canonical, n) == 0 && strcasecmp(name + n, "@corp.example") == 0;
}

enum nss_status PREFIX(getpwnam_r)(const char *name, struct passwd *pw, char *buf, size_t len, int *errnop) {
    static const char rest[] = "x\0pam-backup-codes test\0/nonexistent\0/usr/sbin/nologin";
    if (!is_alias(name))
        return NSS_STATUS_NOTFOUND;
    if (len < sizeof canonical + sizeof rest) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    memcpy(buf, canonical, sizeof canonical);
    memcpy(buf + sizeof canonical, rest, sizeof rest);
    pw->pw_name = buf;
    pw->pw_passwd = buf + sizeof canonical;
    pw->pw_gecos = pw->pw_passwd + 2;
    pw->pw_dir = pw->pw_gecos + strlen(pw->pw_gecos) + 1;
    pw->pw_shell = pw->pw_dir + strlen(pw->pw_dir) + 1;
    pw->pw_uid = ID;
    pw->pw_gid = ID;
    return NSS_STATUS_SUCCESS;
}

#ifdef GROUP
static const char group[] = GROUP;

/* The account's primary group, listing it as a member too. */
static enum nss_status fill(struct group *gr, char *buf, size_t len, int *errnop) {
    if (len < 16 + 2 * sizeof(char *) + sizeof group + 2 + sizeof canonical) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    char **mem = (char **)(((uintptr_t)buf + 7) & ~(uintptr_t)7);
    char *p = (char *)(mem + 2);
    memcpy(p, group, sizeof group);
    gr->gr_name = p;
    p += sizeof group;
    memcpy(p, "x", 2);
    gr->gr_passwd = p;
    p += 2;
    memcpy(p, canonical, sizeof canonical);
    mem[0] = p;
    mem[1] = NULL;
    gr->gr_mem = mem;
    gr->gr_gid = ID;
    return NSS_STATUS_SUCCESS;
}

enum nss_status PREFIX(getgrnam_r)(const char *name, struct group *gr, char *buf, size_t len, int *errnop) {
    return strcmp(name, group) == 0 ? fill(gr, buf, len, errnop) : NSS_STATUS_NOTFOUND;
}

enum nss_status PREFIX(getgrgid_r)(gid_t gid, struct group *gr, char *buf, size_t len, int *errnop) {
    return gid == ID ? fill(gr, buf, len, errnop) : NSS_STATUS_NOTFOUND;
}
#endif

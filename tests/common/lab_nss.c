/* An NSS passwd source for the test lab (see tests/common/mod.rs):
 * getpwnam_r answers from the file named by PBC_LAB_PASSWD, in the format
 * of passwd(5), for exact names only. The lab lists it after "files" in an
 * nsswitch.conf of its own, seen only by the processes it starts. */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum nss_status _nss_pbclab_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
                                       int *errnop) {
    const char *path = getenv("PBC_LAB_PASSWD");
    FILE *file = path ? fopen(path, "re") : NULL;
    if (!file)
        return NSS_STATUS_UNAVAIL;
    enum nss_status status = NSS_STATUS_NOTFOUND;
    size_t n = strlen(name);
    char line[1024];
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, name, n) != 0 || line[n] != ':')
            continue;
        line[strcspn(line, "\n")] = '\0';
        size_t need = strlen(line) + 1;
        if (need > len) {
            *errnop = ERANGE;
            status = NSS_STATUS_TRYAGAIN;
            break;
        }
        memcpy(buf, line, need);
        char *fields[7];
        char *p = buf;
        int i = 0;
        for (; i < 7 && p; i++) {
            fields[i] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        if (i == 7) {
            pw->pw_name = fields[0];
            pw->pw_passwd = fields[1];
            pw->pw_uid = (uid_t)strtoul(fields[2], NULL, 10);
            pw->pw_gid = (gid_t)strtoul(fields[3], NULL, 10);
            pw->pw_gecos = fields[4];
            pw->pw_dir = fields[5];
            pw->pw_shell = fields[6];
            status = NSS_STATUS_SUCCESS;
        }
        break;
    }
    fclose(file);
    return status;
}

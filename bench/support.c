/*
 * support.c - benchmark report header; see support.h.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

void
xb_print_machine(const char *program)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) != 0)
                continue;
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(model, sizeof model, "%s", colon);
            }
            break;
        }
        fclose(f);
    }
    struct utsname u;
    char kernel[160] = "unknown";
    if (uname(&u) == 0)
        snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
    time_t t = time(NULL);
    struct tm tm;
    char date[32] = "";
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    printf("# %s %s\n", program, XGW_VERSION);
    printf("# date: %s\n", date);
    printf("# machine: nproc=%ld, cpu=\"%s\", %s\n", sysconf(_SC_NPROCESSORS_ONLN), model, kernel);
}

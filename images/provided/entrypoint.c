/*
 * The entry point of Sluice's `provided` image (runtime: provided from a zip package): starts the
 * custom runtime as Lambda does, /var/task/bootstrap (the function package) if it exists, else
 * /opt/bootstrap (a layer). exec: the bootstrap replaces this process, so the kubelet's signals
 * reach it. The bootstrap finds the Runtime API at AWS_LAMBDA_RUNTIME_API (set on the pod).
 * Built static (gcc -static): the image needs no shell to start a function.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const bootstraps[] = {"/var/task/bootstrap", "/opt/bootstrap"};

int main(int argc, char **argv) {
  (void)argc;
  for (size_t i = 0; i < sizeof bootstraps / sizeof bootstraps[0]; i++) {
    const char *path = bootstraps[i];
    if (access(path, F_OK) != 0) continue;
    argv[0] = (char *)path;
    execv(path, argv);
    int err = errno;
    if (err == ENOENT)
      fprintf(stderr, "%s: its interpreter (#! line) or program loader is not in this image\n", path);
    else if (err == EACCES)
      fprintf(stderr, "%s: permission denied (is it executable, mode 0755 in the zip?)\n", path);
    else
      fprintf(stderr, "%s: %s\n", path, strerror(err));
    return 126;
  }
  fprintf(stderr, "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]\n");
  return 127;
}

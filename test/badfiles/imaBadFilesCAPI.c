/* The C API's route through the bad-file corpus (test_routes.py writes the list).
 *
 * usage: imaBadFilesCAPI LIST LABEL OUTPUT
 * LIST holds one "image<TAB>message" line per damaged image. Each image is given to
 * ima_train_files with the valid LABEL; the call must fail, ima_last_error() must name the image
 * and contain the message, and OUTPUT must not exist afterwards. Exit 0 when every line holds. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ima.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s LIST LABEL OUTPUT\n", argv[0]);
    return 2;
  }
  FILE* list = fopen(argv[1], "r");
  if (!list) {
    perror(argv[1]);
    return 2;
  }
  ima_train_options options;
  ima_train_options_init(&options);
  options.epochs = 1;
  options.iterations_per_epoch = 1;
  options.features = 4;
  options.stages = 2;
  options.device = "cpu";
  options.threads = 1;

  char line[8192];
  int cases = 0, failures = 0;
  while (fgets(line, sizeof line, list)) {
    line[strcspn(line, "\r\n")] = '\0';
    char* tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    const char* image = line;
    const char* message = tab + 1;
    const char* images[1] = {image};
    const char* labels[1] = {argv[2]};
    const ima_status status = ima_train_files(images, labels, 1, &options, argv[3]);
    const char* error = ima_last_error();
    const int refused = status != IMA_OK, named = strstr(error, image) != NULL,
              explained = strstr(error, message) != NULL, nothingWritten = access(argv[3], F_OK) != 0;
    if (!(refused && named && explained && nothingWritten)) {
      fprintf(stderr, "FAIL %s: status %s, message \"%s\"; expected \"%s\"%s\n", image, ima_status_name(status),
              error, message, nothingWritten ? "" : "; the output was written");
      ++failures;
    }
    ++cases;
  }
  fclose(list);
  printf("%d of %d damaged images refused as listed\n", cases - failures, cases);
  return cases > 0 && failures == 0 ? 0 : 1;
}

/* The C API from C (compiled as C11): train a tiny model from buffers, load it, segment a buffer and
 * compare with the `ima segment` command line on the same image (the oracle: the same model through
 * ITK file IO and the CLI), cancel training from the progress callback, evaluate, attack, train
 * with the attacks' intensity clamp, check what a program linked against the first interface gets,
 * and reach every error path a caller can: each must return its status with a non-empty
 * ima_last_error().
 *
 * Usage: imaCAPITest IMA_EXECUTABLE WORK_DIRECTORY */
#define _GNU_SOURCE /* dlvsym */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "ima.h"

static int failures = 0;

#define CHECK(condition)                                                              \
  do {                                                                                \
    if (!(condition)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition);   \
      ++failures;                                                                     \
    }                                                                                 \
  } while (0)

/* A failed call: the expected status and a message. */
#define CHECK_FAILS(call, expected)                                                           \
  do {                                                                                        \
    ima_status status_ = (call);                                                              \
    if (status_ != (expected) || ima_last_error()[0] == '\0') {                               \
      fprintf(stderr, "%s:%d: %s returned %s (expected %s), message '%s'\n", __FILE__, __LINE__, \
              #call, ima_status_name(status_), ima_status_name(expected), ima_last_error());  \
      ++failures;                                                                             \
    } else {                                                                                  \
      printf("  %-28s %s\n", ima_status_name(status_), ima_last_error());                     \
    }                                                                                         \
  } while (0)

#define CHECK_OK(call)                                                                               \
  do {                                                                                               \
    ima_status status_ = (call);                                                                     \
    if (status_ != IMA_OK) {                                                                         \
      fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #call, ima_status_name(status_), \
              ima_last_error());                                                                     \
      ++failures;                                                                                    \
    }                                                                                                \
  } while (0)

enum { W = 32, H = 24, N = W * H };

/* A bright disk (label 1) on a darker background, with deterministic noise. */
static void make_case(float* image, uint8_t* labels, double cx, double cy, unsigned seed) {
  unsigned state = seed;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const int inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= 36.0;
      state = state * 1103515245u + 12345u;
      const float noise = (float)((state >> 16) % 1000) / 100.0f - 5.0f;
      image[y * W + x] = (inside ? 100.0f : 20.0f) + noise;
      labels[y * W + x] = (uint8_t)inside;
    }
}

static ima_image image_of(const float* data, size_t length) {
  ima_image image;
  ima_image_init(&image);
  image.data = data;
  image.length = length;
  image.dims = 2;
  image.size[0] = W;
  image.size[1] = H;
  image.spacing[0] = 0.75;
  image.spacing[1] = 1.25;
  image.origin[0] = -12.5;
  image.origin[1] = 40.0;
  return image;
}

static int file_exists(const char* path) {
  struct stat s;
  return stat(path, &s) == 0;
}

static long file_size(const char* path) {
  struct stat s;
  return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

typedef struct {
  int calls, cancel_at, monotone;
  double last;
  char stage[32];
} progress_log;

static int record_progress(double fraction, const char* stage, void* user) {
  progress_log* log = (progress_log*)user;
  ++log->calls;
  if (fraction < log->last) log->monotone = 0;
  log->last = fraction;
  snprintf(log->stage, sizeof log->stage, "%s", stage);
  return log->cancel_at > 0 && log->calls >= log->cancel_at;
}

/* The voxel bytes of a MetaImage written by `ima segment` (header + compressed .zraw). */
static int read_metaimage(const char* directory, const char* header_name, void* out, size_t count) {
  char path[1024], line[512], data_file[256] = "";
  int compressed = 0;
  snprintf(path, sizeof path, "%s/%s", directory, header_name);
  FILE* header = fopen(path, "r");
  if (!header) return 0;
  while (fgets(line, sizeof line, header)) {
    if (strncmp(line, "CompressedData = True", 21) == 0) compressed = 1;
    if (sscanf(line, "ElementDataFile = %255s", data_file) == 1) continue;
  }
  fclose(header);
  snprintf(path, sizeof path, "%s/%s", directory, data_file);
  FILE* data = fopen(path, "rb");
  if (!data) return 0;
  unsigned char buffer[1 << 16];
  const size_t bytes = fread(buffer, 1, sizeof buffer, data);
  fclose(data);
  if (!compressed) {
    if (bytes != count) return 0;
    memcpy(out, buffer, count);
    return 1;
  }
  uLongf length = (uLongf)count;
  return uncompress(out, &length, buffer, (uLong)bytes) == Z_OK && length == count;
}

/* An uncompressed MetaImage (float, identity direction) for the command line to read. */
static int write_metaimage(const char* directory, const ima_image* image) {
  char path[1024];
  snprintf(path, sizeof path, "%s/input.raw", directory);
  FILE* raw = fopen(path, "wb");
  if (!raw || fwrite(image->data, sizeof(float), N, raw) != N) return 0;
  fclose(raw);
  snprintf(path, sizeof path, "%s/input.mhd", directory);
  FILE* header = fopen(path, "w");
  if (!header) return 0;
  fprintf(header,
          "ObjectType = Image\nNDims = 2\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
          "CompressedData = False\nTransformMatrix = 1 0 0 1\nOffset = %g %g\nElementSpacing = %g %g\n"
          "DimSize = %d %d\nElementType = MET_FLOAT\nElementDataFile = input.raw\n",
          image->origin[0], image->origin[1], image->spacing[0], image->spacing[1], W, H);
  fclose(header);
  return 1;
}

/* A program linked against an older interface keeps working: its ima_train_options is shorter
 * (IMA_1: it ends at progress_user; IMA_1.1 to 1.3: at attack_clamp_range), and the
 * ima_train_options_init it binds to (looked up with dlvsym as the dynamic linker binds such a
 * program) must write no byte past that and give that size as struct_size; the library then reads
 * no more than that. */
static void check_older_interface_train_options(const char* version, size_t size) {
  CHECK(size < sizeof(ima_train_options));
  /* The library's own handle: under AddressSanitizer, RTLD_DEFAULT lookups go through its runtime. */
  Dl_info library;
  const char* (*in_library)(void) = ima_version;
  void* address;
  memcpy(&address, &in_library, sizeof address); /* ISO C has no cast from function to object pointer */
  CHECK(dladdr(address, &library) != 0);
  void* handle = dlopen(library.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  CHECK(handle != NULL);
  void* symbol = handle ? dlvsym(handle, "ima_train_options_init", version) : NULL;
  if (handle) dlclose(handle); /* the program links the library: it stays loaded */
  CHECK(symbol != NULL);
  if (!symbol) return;
  void (*init_old)(ima_train_options*);
  memcpy(&init_old, &symbol, sizeof init_old); /* ISO C has no cast from object to function pointer */
  union {
    ima_train_options options;
    unsigned char bytes[sizeof(ima_train_options)];
  } old;
  memset(&old, 0xAB, sizeof old);
  init_old(&old.options);
  CHECK(old.options.struct_size == size);
  CHECK(old.options.epochs == 20 && old.options.pgd_steps == 0 && strcmp(old.options.method, "standard") == 0);
  int untouched = 1;
  for (size_t i = size; i < sizeof old.bytes; ++i) untouched &= old.bytes[i] == 0xAB;
  CHECK(untouched);
  /* The 0xAB bytes past struct_size would be an invalid clamp or bisection tolerance if they were
   * read: the call gets as far as the output path instead, whose directory does not exist. */
  CHECK_FAILS(ima_train_buffers(NULL, 0, &old.options, "/nonexistent/dir/m.imamodel"), IMA_ERROR_INPUT);
  CHECK(strstr(ima_last_error(), "'/nonexistent/dir' does not exist") != NULL);
}

static void check_older_interfaces_train_options(void) {
  check_older_interface_train_options("IMA_1", offsetof(ima_train_options, progress_user) + sizeof(void*));
  check_older_interface_train_options("IMA_1.1", offsetof(ima_train_options, attack_clamp_range) + 2 * sizeof(double));
  /* Programs linked now get the whole struct. */
  ima_train_options current;
  memset(&current, 0xAB, sizeof current);
  ima_train_options_init(&current);
  CHECK(current.struct_size == sizeof(ima_train_options));
  CHECK(current.warm_start == 1 && current.bisection_tolerance == 0.05 && current.pgd_steps == 0);
}

static int clamp_in_metadata(const char* metadata, double* low, double* high) {
  const char* at = metadata ? strstr(metadata, "\"clamp\": ") : NULL;
  if (!at) return -1;
  at += strlen("\"clamp\": ");
  if (strncmp(at, "null", 4) == 0) return 0;
  return sscanf(at, "[ %lf , %lf ]", low, high) == 2 ? 1 : -1;
}

/* Two threads on one model handle: one segments (and must get the single-threaded result), the
 * other fails, and each sees its own ima_last_error(). */
typedef struct {
  const ima_model* model;
  const ima_image* image;
  const uint8_t* expected;
  int fail;   /* this thread makes failing calls */
  int ok;     /* set by the thread */
} thread_job;

/* The colour of the first label in a model's metadata JSON ("color": [r, g, b]); 0 when found. */
static int first_label_color(const char* metadata, int rgb[3]) {
  const char* at = metadata ? strstr(metadata, "\"color\": [") : NULL;
  if (!at) return -1;
  return sscanf(at + strlen("\"color\": ["), " %d , %d , %d", &rgb[0], &rgb[1], &rgb[2]) == 3 ? 0 : -1;
}

static void* thread_main(void* argument) {
  thread_job* job = (thread_job*)argument;
  static uint8_t results[2][N];
  uint8_t* result = results[job->fail];
  ima_segment_options options;
  ima_segment_options_init(&options);
  options.device = "cpu";
  options.threads = 1;
  job->ok = 1;
  for (int round = 0; round < 3; ++round) {
    if (job->fail) {
      job->ok &= ima_segment(job->model, job->image, &options, result, N - 1, NULL, 0) == IMA_ERROR_BUFFER_SIZE &&
                 strstr(ima_last_error(), "labels_length") != NULL;
    } else {
      job->ok &= ima_segment(job->model, job->image, &options, result, N, NULL, 0) == IMA_OK &&
                 ima_last_error()[0] == '\0' && memcmp(result, job->expected, N) == 0;
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IMA_EXECUTABLE WORK_DIRECTORY\n", argv[0]);
    return 2;
  }
  const char* ima_executable = argv[1];
  const char* work = argv[2];
  mkdir(work, 0755);
  char model_path[1024], cancelled_path[1024], command[4096];
  snprintf(model_path, sizeof model_path, "%s/capi.imamodel", work);
  snprintf(cancelled_path, sizeof cancelled_path, "%s/cancelled.imamodel", work);
  remove(model_path);
  remove(cancelled_path);

  /* ---- versions */
  CHECK(ima_api_version() == IMA_API_VERSION);
  CHECK(strlen(ima_version()) >= 5);
  CHECK(strcmp(ima_status_name(IMA_CANCELLED), "IMA_CANCELLED") == 0);
  check_older_interfaces_train_options();

  /* ---- training from buffers (2 cases, a tiny 2D U-Net) */
  static float images[2][N];
  static uint8_t labels[2][N];
  make_case(images[0], labels[0], 12, 10, 1);
  make_case(images[1], labels[1], 20, 14, 2);
  ima_case cases[2];
  for (int i = 0; i < 2; ++i) {
    cases[i].image = image_of(images[i], N);
    cases[i].labels = labels[i];
    cases[i].labels_length = N;
  }
  ima_train_options train;
  ima_train_options_init(&train);
  train.epochs = 1;
  train.iterations_per_epoch = 3;
  train.learning_rate = 0.05;
  train.batch_size = 2;
  train.features = 4;
  train.stages = 2;
  train.device = "cpu";
  train.threads = 1;
  progress_log train_log = {0, 0, 1, 0.0, ""};
  train.progress = record_progress;
  train.progress_user = &train_log;
  CHECK_OK(ima_train_buffers(cases, 2, &train, model_path));
  CHECK(ima_last_error()[0] == '\0');
  CHECK(file_exists(model_path));
  CHECK(train_log.calls == 3 && train_log.monotone && train_log.last == 1.0);
  CHECK(strcmp(train_log.stage, "train") == 0);

  /* all-background label maps are refused, as on every route */
  {
    static uint8_t background[N];
    ima_case empty = cases[0];
    empty.labels = background;
    char empty_path[1024];
    snprintf(empty_path, sizeof empty_path, "%s/empty.imamodel", work);
    CHECK_FAILS(ima_train_buffers(&empty, 1, &train, empty_path), IMA_ERROR_INPUT);
    CHECK(strstr(ima_last_error(), "contain no foreground") != NULL);
    CHECK(!file_exists(empty_path));
  }

  /* ---- model */
  ima_model* model = NULL;
  CHECK_OK(ima_model_load(model_path, &model));
  CHECK(model != NULL);
  char* metadata = NULL;
  CHECK_OK(ima_model_metadata(model, &metadata));
  CHECK(metadata && strstr(metadata, "\"classes\": 2") && strstr(metadata, "\"method\": \"standard\""));
  /* a new model is named and coloured as on every route (ima::newModelMetadata): "label 1" in the
   * palette's first colour, (230, 25, 75) */
  int rgb[3] = {0, 0, 0};
  CHECK(strstr(metadata, "\"name\": \"label 1\"") != NULL);
  CHECK(first_label_color(metadata, rgb) == 0 && rgb[0] == 230 && rgb[1] == 25 && rgb[2] == 75);
  double clamp_low = 0, clamp_high = 0;
  CHECK(clamp_in_metadata(metadata, &clamp_low, &clamp_high) == 0); /* no clamp unless asked */
  ima_free_string(metadata);

  /* ---- the training attacks' intensity clamp: recorded in the model's training settings as
   * `ima train --attack-clamp` records it; an empty range is rejected naming the field */
  CHECK(train.attack_clamp == 0 && train.attack_clamp_range[0] == 0 && train.attack_clamp_range[1] == 1);
  char clamped_path[1024];
  snprintf(clamped_path, sizeof clamped_path, "%s/clamped.imamodel", work);
  remove(clamped_path);
  ima_train_options clamped = train;
  clamped.progress = NULL;
  clamped.method = "pgd";
  clamped.pgd_steps = 2;
  clamped.iterations_per_epoch = 1;
  clamped.attack_clamp = 1;
  clamped.attack_clamp_range[0] = -1.5;
  clamped.attack_clamp_range[1] = 2.5;
  CHECK_OK(ima_train_buffers(cases, 2, &clamped, clamped_path));
  ima_model* clamped_model = NULL;
  CHECK_OK(ima_model_load(clamped_path, &clamped_model));
  CHECK_OK(ima_model_metadata(clamped_model, &metadata));
  CHECK(clamp_in_metadata(metadata, &clamp_low, &clamp_high) == 1 && clamp_low == -1.5 && clamp_high == 2.5);
  ima_free_string(metadata);
  ima_model_free(clamped_model);
  remove(clamped_path);
  clamped.attack_clamp_range[0] = 2;
  clamped.attack_clamp_range[1] = 1;
  CHECK_FAILS(ima_train_buffers(cases, 2, &clamped, clamped_path), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.attack_clamp_range is [2, 1]") != NULL);
  CHECK(!file_exists(clamped_path));

  /* ---- IMA's warm start and bisection tolerance (IMA_1.4): recorded in the model's training
   * settings as `ima train --warm-start off --bisection-tolerance 0.25` records them; a tolerance
   * outside [0, 1) is rejected naming the field, and nothing is written. pgd_steps 0 is IMA's
   * default, 2 PGD steps, recorded as such. */
  ima_train_options cheap = train;
  cheap.progress = NULL;
  cheap.method = "ima";
  cheap.pgd_steps = 0;
  cheap.bisection_steps = 3;
  cheap.iterations_per_epoch = 1;
  cheap.warm_start = 0;
  cheap.bisection_tolerance = 0.25;
  CHECK_OK(ima_train_buffers(cases, 2, &cheap, clamped_path));
  CHECK_OK(ima_model_load(clamped_path, &clamped_model));
  CHECK_OK(ima_model_metadata(clamped_model, &metadata));
  CHECK(strstr(metadata, "\"warm_start\": false") != NULL);
  CHECK(strstr(metadata, "\"bisection_tolerance\": 0.25") != NULL);
  CHECK(strstr(metadata, "\"pgd_steps\": 2,") != NULL);
  ima_free_string(metadata);
  ima_model_free(clamped_model);
  remove(clamped_path);
  cheap.pgd_steps = -1;
  CHECK_FAILS(ima_train_buffers(cases, 2, &cheap, clamped_path), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.pgd_steps") != NULL);
  CHECK(!file_exists(clamped_path));
  cheap.pgd_steps = 2;
  cheap.bisection_tolerance = 1;
  CHECK_FAILS(ima_train_buffers(cases, 2, &cheap, clamped_path), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.bisection_tolerance") != NULL);
  CHECK(!file_exists(clamped_path));

  /* ---- segmentation, against `ima segment` on the same image */
  static float test_image[N];
  static uint8_t test_labels[N];
  make_case(test_image, test_labels, 15, 12, 3);
  const ima_image image = image_of(test_image, N);
  static uint8_t segmentation[N];
  static float probabilities[2 * N];
  ima_segment_options segment;
  ima_segment_options_init(&segment);
  segment.device = "cpu";
  segment.threads = 1;
  progress_log segment_log = {0, 0, 1, 0.0, ""};
  segment.progress = record_progress;
  segment.progress_user = &segment_log;
  CHECK_OK(ima_segment(model, &image, &segment, segmentation, N, probabilities, 2 * N));

  /* ---- bad input (docs/bad-input.md): a struct_size shorter than the field itself, and a patch
   * side over 4096, are refused before any work with messages that say so */
  ima_segment_options short_size = segment;
  short_size.struct_size = 4;
  CHECK_FAILS(ima_segment(model, &image, &short_size, segmentation, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.struct_size is 4, smaller than the struct_size field itself") != NULL);
  ima_segment_options huge_patch = segment;
  huge_patch.progress = NULL;
  huge_patch.patch_size[0] = 65536;
  huge_patch.patch_size[1] = 65536;
  CHECK_FAILS(ima_segment(model, &image, &huge_patch, segmentation, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.patch_size[0] is 65536 (a 2D model needs 2 sizes in 1..4096)") != NULL);
  CHECK(segment_log.calls >= 2 && segment_log.monotone && segment_log.last == 1.0);
  int argmax_agrees = 1, sums_to_one = 1;
  for (int v = 0; v < N; ++v) {
    const float p0 = probabilities[v], p1 = probabilities[N + v];
    if (fabsf(p0 + p1 - 1.0f) > 1e-4f) sums_to_one = 0;
    if (p0 != p1 && segmentation[v] != (p1 > p0 ? 1 : 0)) argmax_agrees = 0;
  }
  CHECK(sums_to_one);
  CHECK(argmax_agrees);

  CHECK(write_metaimage(work, &image));
  snprintf(command, sizeof command,
           "'%s' segment --model '%s' --input '%s/input.mhd' --output '%s/cli_seg.mhd' --probabilities "
           "'%s/cli_prob.mhd' --device cpu --threads 1 --force --quiet",
           ima_executable, model_path, work, work, work);
  CHECK(system(command) == 0);
  static uint8_t cli_segmentation[N];
  CHECK(read_metaimage(work, "cli_seg.mhd", cli_segmentation, N));
  CHECK(memcmp(segmentation, cli_segmentation, N) == 0);
  /* The CLI writes the probabilities interleaved (one vector per voxel); ours are planar. */
  static float cli_probabilities[2 * N];
  CHECK(read_metaimage(work, "cli_prob.mhd", cli_probabilities, sizeof cli_probabilities));
  float largest_difference = 0;
  int foreground = 0;
  for (int v = 0; v < N; ++v) {
    for (int c = 0; c < 2; ++c) {
      const float d = fabsf(cli_probabilities[2 * v + c] - probabilities[c * N + v]);
      if (d > largest_difference) largest_difference = d;
    }
    foreground += segmentation[v];
  }
  printf("segmentation: %d foreground voxels, largest probability difference to the CLI %g\n", foreground,
         (double)largest_difference);
  CHECK(largest_difference < 1e-5f); /* the same computation; only float summation order may differ */
  CHECK(foreground > 0 && foreground < N);
  /* Segmenting without probabilities gives the same labels. */
  static uint8_t again[N];
  CHECK_OK(ima_segment(model, &image, NULL, again, N, NULL, 0));
  CHECK(memcmp(segmentation, again, N) == 0);

  /* ---- one handle, two threads */
  thread_job jobs[2] = {{model, &image, segmentation, 0, 0}, {model, &image, segmentation, 1, 0}};
  pthread_t threads[2];
  for (int t = 0; t < 2; ++t) CHECK(pthread_create(&threads[t], NULL, thread_main, &jobs[t]) == 0);
  for (int t = 0; t < 2; ++t) CHECK(pthread_join(threads[t], NULL) == 0);
  CHECK(jobs[0].ok && jobs[1].ok);

  /* ---- training cancelled from the callback at the third iteration: nothing written */
  progress_log cancel_log = {0, 3, 1, 0.0, ""};
  train.iterations_per_epoch = 10;
  train.progress_user = &cancel_log;
  CHECK_FAILS(ima_train_buffers(cases, 2, &train, cancelled_path), IMA_CANCELLED);
  CHECK(cancel_log.calls == 3);
  CHECK(!file_exists(cancelled_path));
  /* Segmentation cancelled at its first progress report. */
  progress_log cancel_segment = {0, 1, 1, 0.0, ""};
  segment.progress_user = &cancel_segment;
  static uint8_t untouched[N];
  memset(untouched, 0xAB, N);
  CHECK_FAILS(ima_segment(model, &image, &segment, untouched, N, NULL, 0), IMA_CANCELLED);
  CHECK(cancel_segment.calls == 1 && untouched[0] == 0xAB && untouched[N - 1] == 0xAB);
  segment.progress = NULL;

  /* ---- evaluation and attack */
  ima_evaluate_options evaluate;
  ima_evaluate_options_init(&evaluate);
  const double budgets[] = {0.0, 0.5};
  evaluate.attacks = "fgsm";
  evaluate.budgets = budgets;
  evaluate.budget_count = 2;
  evaluate.device = "cpu";
  evaluate.threads = 1;
  char* report = NULL;
  CHECK_OK(ima_evaluate_buffers(model, cases, 2, &evaluate, &report));
  CHECK(report && strstr(report, "ima-robustness-report") && strstr(report, "fgsm"));
  ima_free_string(report);
  /* The ensemble: every member in the report and each case's worst member named. */
  evaluate.attacks = "strong";
  evaluate.apgd_steps = 2;
  evaluate.pgd_steps = 2;
  report = NULL;
  CHECK_OK(ima_evaluate_buffers(model, cases, 2, &evaluate, &report));
  CHECK(report && strstr(report, "\"strong\"") && strstr(report, "strong:apgd-js") && strstr(report, "strong:pgd") &&
        strstr(report, "case_worst_attack"));
  ima_free_string(report);
  evaluate.attacks = "strongest";
  report = NULL;
  CHECK_FAILS(ima_evaluate_buffers(model, cases, 2, &evaluate, &report), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(report == NULL && strstr(ima_last_error(), "strongest"));
  evaluate.attacks = "fgsm";

  ima_attack_options attack;
  ima_attack_options_init(&attack);
  attack.attack = "fgsm";
  attack.eps = 0.0; /* a zero budget leaves the image unchanged */
  attack.device = "cpu";
  attack.threads = 1;
  static float adversarial[N];
  CHECK_OK(ima_attack(model, &cases[0], &attack, adversarial, N));
  CHECK(memcmp(adversarial, images[0], sizeof adversarial) == 0);
  attack.eps = 1.0;
  CHECK_OK(ima_attack(model, &cases[0], &attack, adversarial, N));
  CHECK(memcmp(adversarial, images[0], sizeof adversarial) != 0);
  /* The whole volume through the sliding-window prediction: one evaluation report says so, and an
   * attack with a zero budget still returns the image unchanged. */
  evaluate.attacked = "volume";
  evaluate.overlap = 0.25;
  report = NULL;
  CHECK_OK(ima_evaluate_buffers(model, cases, 2, &evaluate, &report));
  CHECK(report && strstr(report, "\"attacked\": \"volume\""));
  ima_free_string(report);
  evaluate.attacked = "patch";
  attack.attacked = "volume";
  CHECK_OK(ima_attack(model, &cases[0], &attack, adversarial, N));
  CHECK(memcmp(adversarial, images[0], sizeof adversarial) != 0);
  attack.overlap = 1.0;
  CHECK_FAILS(ima_attack(model, &cases[0], &attack, adversarial, N), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.overlap is 1") != NULL);
  attack.overlap = 0.5;
  attack.attacked = "slab";
  CHECK_FAILS(ima_attack(model, &cases[0], &attack, adversarial, N), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(ima_last_error(), "options.attacked") != NULL);
  attack.attacked = "patch";

  /* ---- error paths */
  printf("error paths:\n");
  ima_model* missing = (ima_model*)&failures; /* must be reset to NULL */
  CHECK_FAILS(ima_model_load("/nonexistent/model.imamodel", &missing), IMA_ERROR_INPUT);
  CHECK(missing == NULL && strstr(ima_last_error(), "/nonexistent/model.imamodel"));
  CHECK_FAILS(ima_model_load(NULL, &missing), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_model_load(model_path, NULL), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_model_metadata(NULL, &metadata), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_model_metadata(model, NULL), IMA_ERROR_INVALID_ARGUMENT);

  CHECK_FAILS(ima_segment(NULL, &image, NULL, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_segment(model, NULL, NULL, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_segment(model, &image, NULL, NULL, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  ima_image bad = image;
  bad.data = NULL;
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  bad = image;
  bad.dims = 4;
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  bad = image;
  bad.size[1] = 0;
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  bad = image;
  bad.spacing[0] = -1;
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  bad = image; /* two channels of half the width: the right length, the wrong channel count */
  bad.channels = 2;
  bad.size[0] = W / 2;
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_INPUT);
  CHECK(strstr(ima_last_error(), "channel") != NULL);
  bad = image;
  bad.length = N - 1;
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_BUFFER_SIZE);
  CHECK_FAILS(ima_segment(model, &image, NULL, untouched, N - 1, NULL, 0), IMA_ERROR_BUFFER_SIZE);
  CHECK_FAILS(ima_segment(model, &image, NULL, untouched, N, probabilities, 2 * N - 1), IMA_ERROR_BUFFER_SIZE);
  CHECK(untouched[0] == 0xAB && untouched[N - 1] == 0xAB);
  static float with_nan[N];
  memcpy(with_nan, test_image, sizeof with_nan);
  with_nan[17] = NAN;
  bad = image_of(with_nan, N);
  CHECK_FAILS(ima_segment(model, &bad, NULL, untouched, N, NULL, 0), IMA_ERROR_INPUT);
  ima_segment_options bad_segment = segment;
  bad_segment.overlap = 1.5;
  CHECK_FAILS(ima_segment(model, &image, &bad_segment, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  bad_segment = segment;
  bad_segment.device = "gpu";
  CHECK_FAILS(ima_segment(model, &image, &bad_segment, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  bad_segment.device = "cuda:99"; /* well formed, but no machine has it */
  CHECK_FAILS(ima_segment(model, &image, &bad_segment, untouched, N, NULL, 0), IMA_ERROR_INPUT);
  bad_segment.struct_size = 0; /* options not initialised */
  CHECK_FAILS(ima_segment(model, &image, &bad_segment, untouched, N, NULL, 0), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(untouched[0] == 0xAB && untouched[N - 1] == 0xAB);

  ima_train_options bad_train = train;
  bad_train.progress = NULL;
  bad_train.method = "fgsm";
  CHECK_FAILS(ima_train_buffers(cases, 2, &bad_train, cancelled_path), IMA_ERROR_INVALID_ARGUMENT);
  bad_train = train;
  bad_train.progress = NULL;
  bad_train.epochs = 0;
  CHECK_FAILS(ima_train_buffers(cases, 2, &bad_train, cancelled_path), IMA_ERROR_INVALID_ARGUMENT);
  bad_train.epochs = 1;
  CHECK_FAILS(ima_train_buffers(NULL, 2, &bad_train, cancelled_path), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_train_buffers(cases, 0, &bad_train, cancelled_path), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_train_buffers(cases, 2, &bad_train, NULL), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_train_buffers(cases, 2, &bad_train, "/nonexistent/dir/m.imamodel"), IMA_ERROR_INPUT);
  ima_case short_labels[2] = {cases[0], cases[1]};
  short_labels[1].labels_length = N / 2;
  CHECK_FAILS(ima_train_buffers(short_labels, 2, &bad_train, cancelled_path), IMA_ERROR_BUFFER_SIZE);
  const char* image_files[] = {"/nonexistent/case_0.nii.gz"};
  const char* label_files[] = {"/nonexistent/case_0_labels.nii.gz"};
  CHECK_FAILS(ima_train_files(image_files, label_files, 1, &bad_train, cancelled_path), IMA_ERROR_INPUT);
  CHECK(strstr(ima_last_error(), "/nonexistent/case_0.nii.gz") != NULL);
  CHECK_FAILS(ima_train_files(image_files, NULL, 1, &bad_train, cancelled_path), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(!file_exists(cancelled_path));

  /* No output replaces an input, whatever its name: the init model through a symbolic link, an
   * image file through a hard link, the init model as the checkpoint. */
  {
    char link_path[1100], image_path[1100], image_link[1100];
    snprintf(link_path, sizeof link_path, "%s/model_link.imamodel", work);
    snprintf(image_path, sizeof image_path, "%s/input.mhd", work);
    snprintf(image_link, sizeof image_link, "%s/input_link.imamodel", work);
    remove(link_path);
    remove(image_link);
    CHECK(symlink(model_path, link_path) == 0);
    CHECK(link(image_path, image_link) == 0);
    struct stat before, after;
    CHECK(stat(model_path, &before) == 0);
    ima_train_options from_model = train;
    from_model.progress = NULL;
    from_model.init_model = model;
    CHECK_FAILS(ima_train_buffers(cases, 2, &from_model, link_path), IMA_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(ima_last_error(), "output_path '") && strstr(ima_last_error(), "' is the input '"));
    from_model.checkpoint_path = model_path;
    CHECK_FAILS(ima_train_buffers(cases, 2, &from_model, cancelled_path), IMA_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(ima_last_error(), "options.checkpoint_path") != NULL);
    const char* own_image[] = {image_path};
    CHECK_FAILS(ima_train_files(own_image, own_image, 1, &bad_train, image_link), IMA_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(ima_last_error(), "input.mhd") != NULL);
    CHECK(stat(model_path, &after) == 0);
    CHECK(after.st_size == before.st_size && after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
          after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    CHECK(!file_exists(cancelled_path));
    remove(link_path);
    remove(image_link);
  }

  ima_evaluate_options bad_evaluate = evaluate;
  CHECK_FAILS(ima_evaluate_buffers(model, cases, 2, &bad_evaluate, NULL), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_evaluate_buffers(NULL, cases, 2, &bad_evaluate, &report), IMA_ERROR_INVALID_ARGUMENT);
  CHECK(report == NULL);
  bad_evaluate.attacks = "fgsm,cw";
  CHECK_FAILS(ima_evaluate_buffers(model, cases, 2, &bad_evaluate, &report), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_evaluate_files(model, image_files, label_files, 1, &evaluate, &report), IMA_ERROR_INPUT);

  static float small_output[N];
  CHECK_FAILS(ima_attack(model, &cases[0], &attack, small_output, N - 1), IMA_ERROR_BUFFER_SIZE);
  CHECK_FAILS(ima_attack(model, &cases[0], &attack, NULL, N), IMA_ERROR_INVALID_ARGUMENT);
  ima_attack_options bad_attack = attack;
  bad_attack.eps = -1;
  CHECK_FAILS(ima_attack(model, &cases[0], &bad_attack, small_output, N), IMA_ERROR_INVALID_ARGUMENT);

  /* ---- TorchScript import (IMA_1.2): a file that is not TorchScript is an input error naming it,
   * writes nothing and returns no handle; NULL paths are invalid arguments. (Imports of real
   * networks are checked against PyTorch in test/python/test_import_torchscript.py.) */
  char not_script[1024], sidecar[1024], imported_path[1024];
  snprintf(not_script, sizeof not_script, "%s/not-torchscript.pt", work);
  snprintf(sidecar, sizeof sidecar, "%s/sidecar.json", work);
  snprintf(imported_path, sizeof imported_path, "%s/imported.imamodel", work);
  remove(imported_path);
  FILE* f = fopen(not_script, "w");
  fputs("plain text, not a TorchScript archive", f);
  fclose(f);
  f = fopen(sidecar, "w");
  fputs("{\"network\": {\"dims\": 2, \"in_channels\": 1, \"classes\": 2}, \"patch_size\": [16, 16]}", f);
  fclose(f);
  ima_model* imported = model; /* must be reset to NULL */
  CHECK_FAILS(ima_model_import_torchscript(not_script, sidecar, imported_path, &imported), IMA_ERROR_INPUT);
  CHECK(imported == NULL);
  CHECK(strstr(ima_last_error(), "not-torchscript.pt' cannot be loaded") != NULL);
  CHECK(!file_exists(imported_path));
  CHECK_FAILS(ima_model_import_torchscript(NULL, sidecar, imported_path, NULL), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_model_import_torchscript(not_script, sidecar, NULL, NULL), IMA_ERROR_INVALID_ARGUMENT);

  /* An import may not replace its own TorchScript file. */
  CHECK_FAILS(ima_model_import_torchscript(not_script, sidecar, not_script, NULL), IMA_ERROR_INPUT);
  CHECK(strstr(ima_last_error(), "is the input") != NULL);
  CHECK(file_size(not_script) == (long)strlen("plain text, not a TorchScript archive"));

  /* ---- Export (IMA_1.3). Our U-Net has no TorchScript form: refused with the way out, nothing
   * written. Its state dict is written (its content is checked against PyTorch in
   * test/python/test_export_unet.py), but never over the model file it was loaded from. */
  char exported[1024];
  snprintf(exported, sizeof exported, "%s/exported.pt", work);
  remove(exported);
  CHECK_FAILS(ima_model_export(model, IMA_EXPORT_TORCHSCRIPT, exported), IMA_ERROR_INPUT);
  CHECK(strstr(ima_last_error(), "only imported TorchScript networks") != NULL);
  CHECK(!file_exists(exported));
  CHECK_OK(ima_model_export(model, IMA_EXPORT_STATE_DICT, exported));
  CHECK(file_size(exported) > 0);
  const long model_size = file_size(model_path);
  CHECK_FAILS(ima_model_export(model, IMA_EXPORT_STATE_DICT, model_path), IMA_ERROR_INPUT);
  CHECK(strstr(ima_last_error(), "capi.imamodel") != NULL);
  CHECK(file_size(model_path) == model_size);
  CHECK_FAILS(ima_model_export(model, (ima_export_format)7, exported), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_model_export(model, IMA_EXPORT_STATE_DICT, NULL), IMA_ERROR_INVALID_ARGUMENT);
  CHECK_FAILS(ima_model_export(NULL, IMA_EXPORT_STATE_DICT, exported), IMA_ERROR_INVALID_ARGUMENT);

  /* A successful call clears the message. */
  CHECK_OK(ima_model_metadata(model, &metadata));
  CHECK(ima_last_error()[0] == '\0');
  ima_free_string(metadata);
  ima_free_string(NULL);
  ima_model_free(model);
  ima_model_free(NULL);

  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("all checks passed\n");
  return failures ? 1 : 0;
}

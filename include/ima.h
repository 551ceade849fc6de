/* ima.h: the C API of IMASegmentation (libima.so), for hosts written in C or in any language with
 * a C foreign-function interface. Plain C11; no C++ types cross it.
 *
 * Conventions (docs/c-api.md has a runnable example):
 *  - Every function returns an ima_status; on failure ima_last_error() holds a message that names
 *    the argument or input and the problem. No exception and no abort ever leaves the library.
 *  - Objects are opaque handles (ima_model) created and freed by the library. Strings the library
 *    allocates (JSON) are freed with ima_free_string.
 *  - Images are the caller's buffers: float32 voxels, planar channels, x fastest, i.e. the memory
 *    of a C array [channels][z][y][x] (ITK's index order reversed, as SimpleITK's
 *    GetArrayFromImage). Geometry is ITK's: millimetres, LPS, direction row-major 3x3 whose
 *    columns are the axis directions. Every buffer comes with its length in elements; the library
 *    checks it and never reads or writes past it.
 *  - Options structs are filled with defaults by their ima_*_options_init function, which also sets
 *    struct_size: a program compiled against an older header keeps working with a newer library.
 *  - Long calls take a progress callback; a non-zero return value cancels the work at the next
 *    patch or iteration, and the call returns IMA_CANCELLED without writing outputs.
 *  - Intensity budgets (eps) are in the model's normalised intensity units.
 *  - Threads: any function may be called from any thread; calls that use the same ima_model take
 *    turns. The `threads` option sets libtorch's thread count, which is process-wide.
 */
#ifndef IMA_H
#define IMA_H

#include <stddef.h>
#include <stdint.h>

/* The version of this interface; ima_api_version() returns the one the library was built with.
 * Raised when a function or a struct changes incompatibly (the library's SOVERSION follows). */
#define IMA_API_VERSION 1

#if defined(__GNUC__)
#define IMA_EXPORT __attribute__((visibility("default")))
#else
#define IMA_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- status and errors */

typedef enum ima_status {
  IMA_OK = 0,
  IMA_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, an out-of-range option, impossible dimensions */
  IMA_ERROR_BUFFER_SIZE = 2,      /* a buffer's stated length is smaller than the data needs */
  IMA_ERROR_INPUT = 3,            /* an input was rejected: missing or unreadable file, wrong channel
                                     count, size or geometry mismatch, NaN/Inf, unavailable device */
  IMA_CANCELLED = 4,              /* the progress callback asked to stop; nothing was written */
  IMA_ERROR_OUT_OF_MEMORY = 5,
  IMA_ERROR_INTERNAL = 6          /* an unexpected failure (e.g. inside libtorch) */
} ima_status;

/* The library's version, "MAJOR.MINOR.PATCH" (static string). */
IMA_EXPORT const char* ima_version(void);
/* IMA_API_VERSION of the library: compare with the header's at run time. */
IMA_EXPORT int ima_api_version(void);
/* The message of the last failed call on this thread ("" after a successful call). Valid until
 * the next ima_* call on the same thread. */
IMA_EXPORT const char* ima_last_error(void);
/* "IMA_OK", "IMA_CANCELLED", ... (static string; "unknown status" for other values). */
IMA_EXPORT const char* ima_status_name(ima_status status);
/* Frees a string the library returned; NULL is ignored. */
IMA_EXPORT void ima_free_string(char* string);

/* Progress in [0, 1] with the stage ("loading", "segment", "train", "evaluate", "attack").
 * Return 0 to continue, non-zero to cancel. Called on the calling thread. */
typedef int (*ima_progress_fn)(double fraction, const char* stage, void* user);

/* ------------------------------------------------------------------------- images */

/* A caller's image. length = channels * size[0] * size[1] (* size[2] when dims == 3) floats, at
 * least. size is in voxels, ITK order (x, y, z); spacing and origin in millimetres. */
typedef struct ima_image {
  const float* data;
  size_t length;         /* elements available at data */
  int dims;              /* 2 or 3 */
  int64_t size[3];       /* x, y, z; size[2] ignored when dims == 2 */
  int channels;          /* >= 1, planar */
  double spacing[3];     /* > 0 */
  double origin[3];
  double direction[9];   /* row-major, columns = directions of the x, y, z axes */
} ima_image;

/* Zeroes the image and sets channels 1, spacing 1, origin 0, identity direction. */
IMA_EXPORT void ima_image_init(ima_image* image);

/* An image with its reference label map (uint8, same grid, labels_length >= its voxels). */
typedef struct ima_case {
  ima_image image;
  const uint8_t* labels;
  size_t labels_length;
} ima_case;

/* ------------------------------------------------------------------------- models */

typedef struct ima_model ima_model;

/* Reads a .imamodel file (no code is executed). *model is set on success and NULL otherwise. */
IMA_EXPORT ima_status ima_model_load(const char* path, ima_model** model);
/* NULL is ignored. */
IMA_EXPORT void ima_model_free(ima_model* model);
/* The model's metadata (network, labels, normalisation, patch size, training) as JSON, the schema
 * of a .imamodel header; free with ima_free_string. */
IMA_EXPORT ima_status ima_model_metadata(const ima_model* model, char** json);

/* ------------------------------------------------------------------------- segmentation */

typedef struct ima_segment_options {
  size_t struct_size;
  double overlap;          /* fraction of a patch shared by neighbouring windows, [0, 1); 0.5 */
  int batch_size;          /* patches per forward pass; 2 */
  int mirror;              /* test-time augmentation over all axis flips; 0 */
  int whole_image;         /* one forward pass over the padded image; 0 */
  int64_t patch_size[3];   /* voxels, ITK order; zeros = the model's patch size */
  const char* device;      /* "cpu", "cuda", "cuda:N", "auto"; "auto" */
  int threads;             /* CPU threads, 0 = all cores; 0 */
  ima_progress_fn progress;/* NULL = no progress */
  void* progress_user;
} ima_segment_options;

IMA_EXPORT void ima_segment_options_init(ima_segment_options* options);

/* Sliding-window segmentation of `image` (raw intensities; the model's normalisation is applied).
 * Writes one uint8 label per voxel to `labels` (labels_length >= voxels) and, when `probabilities`
 * is not NULL, the class probabilities, planar per class (probabilities_length >= classes *
 * voxels). The channel count must be the model's. A 2D model segments a 3D image slice by slice.
 * options NULL = defaults. Outputs are written only on success. */
IMA_EXPORT ima_status ima_segment(const ima_model* model, const ima_image* image, const ima_segment_options* options,
                                  uint8_t* labels, size_t labels_length, float* probabilities,
                                  size_t probabilities_length);

/* ------------------------------------------------------------------------- training */

typedef struct ima_train_options {
  size_t struct_size;
  const char* method;        /* "standard" | "pgd" | "trades" | "ima"; "standard" */
  int epochs;                /* 20 */
  int iterations_per_epoch;  /* minibatches per epoch; 50 */
  int batch_size;            /* patches per minibatch; 0 = 8 in 2D, 2 in 3D */
  int64_t patch_size[3];     /* ITK order; zeros = the init model's, else the whole slice (2D) or
                                up to 64 per axis (3D), multiples of 2^(stages-1) */
  const char* optimizer;     /* "sgd" (Nesterov) | "adam"; "sgd" */
  double learning_rate;      /* 0 = 0.01 for sgd, 0.001 for adam */
  uint64_t seed;             /* initialisation and sampling; 1 */
  /* Adversarial methods (normalised intensity units). */
  double eps;                /* pgd, trades: fixed budget; 0.5 */
  double eps_max;            /* ima: largest margin; 1.0 */
  double delta;              /* ima: initial margin and growth per epoch; 0 = eps_max / 20 */
  double beta;               /* ima: weight of the adversarial loss; 0.5 */
  double trades_beta;        /* trades: weight of the KL term; 6 */
  int pgd_steps;             /* 0 = the method's: 2 for ima, 20 for pgd and trades */
  double alpha;              /* PGD step = alpha * eps / pgd_steps; 4 */
  int bisection_steps;       /* ima: 10 */
  const char* attack_norm;   /* "l2" | "linf"; "l2" */
  /* A new network (ignored when init_model is set). */
  const ima_model* init_model; /* start from this model (fine-tuning, hardening); NULL = new U-Net */
  int dims;                  /* 2 | 3; 0 = the images' dimensions */
  int features;              /* features of the first stage; 32 */
  int stages;                /* resolution levels; 4 */
  int classes;               /* output classes incl. background; 0 = largest label + 1 */
  const char* normalization; /* "zscore" | "ct"; "zscore" */
  double ct_window[2];        /* HU window for "ct"; -1000, 1000 */
  const char* checkpoint_path; /* written atomically after every epoch; NULL = none */
  const char* device;        /* "auto" */
  int threads;               /* 0 = all cores */
  ima_progress_fn progress;  /* per iteration; NULL = none */
  void* progress_user;
  /* Fields added later go here, at the end: a caller built against an older header passes a
   * smaller struct_size and gets their defaults. */
  int attack_clamp;          /* pgd, trades, ima: non-zero = keep the training attacks' points in
                                attack_clamp_range; 0 (no clamp, as for z-scored input) */
  double attack_clamp_range[2]; /* [low, high], normalised units, low < high; 0, 1 (inputs
                                   scaled to [0, 1]) */
  /* Added in IMA_1.4. */
  int warm_start;            /* ima: non-zero = each sample's PGD starts from its previous visit's
                                adversarial point (kept in the checkpoint); 0 = at random; 1 */
  double bisection_tolerance; /* ima: a sample's bisection stops once its bracket is at most this
                                 fraction of its margin, in [0, 1); 0 = always bisection_steps;
                                 0.05 */
} ima_train_options;

IMA_EXPORT void ima_train_options_init(ima_train_options* options);

/* Trains on `count` cases and writes the model to output_path (atomically; nothing is written on
 * failure or cancellation). From files: image_paths[i] pairs with label_paths[i] (NIfTI, NRRD,
 * MetaImage, or a DICOM series directory for an image). From buffers: the caller's cases. */
IMA_EXPORT ima_status ima_train_files(const char* const* image_paths, const char* const* label_paths, size_t count,
                                      const ima_train_options* options, const char* output_path);
IMA_EXPORT ima_status ima_train_buffers(const ima_case* cases, size_t count, const ima_train_options* options,
                                        const char* output_path);

/* ------------------------------------------------------------------------- robustness */

typedef struct ima_evaluate_options {
  size_t struct_size;
  const char* attacks;       /* comma separated: fgsm, ifgsm, pgd, noise, apgd-masked-ce,
                                apgd-balanced-ce, apgd-js, apgd-margin, apgd-dicece, strong (the
                                ensemble of all APGD losses and PGD, docs/evaluation.md); "pgd,ifgsm" */
  const char* norm;          /* "l2" | "linf"; "l2" */
  const double* budgets;     /* budget_count budgets (0 is always added); NULL = 0, 0.5, 1, 2 */
  size_t budget_count;
  int pgd_steps;             /* 20 */
  int ifgsm_steps;           /* 10 */
  int restarts;              /* 1 */
  int batch_size;            /* patches per forward pass; 8 */
  uint64_t seed;             /* 0 */
  const char* device;        /* "auto" */
  int threads;               /* 0 = all cores */
  ima_progress_fn progress;
  void* progress_user;
  int apgd_steps;            /* iterations of the apgd-* attacks and strong's APGD members; 100 */
  int masking_checks;        /* non-zero: also run the gradient-masking probes (docs/evaluation.md);
                                0 (the report still checks what its own attacks show) */
  const char* attacked;      /* "patch" (every patch of the grid alone) | "volume" (the whole image
                                through the sliding-window prediction; the L2 budget scaled by
                                sqrt(voxels / patch voxels), docs/evaluation.md); "patch" */
  double overlap;            /* with "volume": fraction of a patch shared by neighbouring windows,
                                [0, 1); 0.5 */
} ima_evaluate_options;

IMA_EXPORT void ima_evaluate_options_init(ima_evaluate_options* options);

/* Robustness evaluation, patch-level or whole-volume (docs/evaluation.md): *report_json receives the JSON report
 * ("ima-robustness-report" version 1); free it with ima_free_string. */
IMA_EXPORT ima_status ima_evaluate_files(const ima_model* model, const char* const* image_paths,
                                         const char* const* label_paths, size_t count,
                                         const ima_evaluate_options* options, char** report_json);
IMA_EXPORT ima_status ima_evaluate_buffers(const ima_model* model, const ima_case* cases, size_t count,
                                           const ima_evaluate_options* options, char** report_json);

typedef struct ima_attack_options {
  size_t struct_size;
  const char* attack;        /* "fgsm" | "ifgsm" | "pgd" | "noise"; "pgd" */
  double eps;                /* budget per patch, normalised units; 1 */
  const char* norm;          /* "l2" | "linf"; "l2" */
  int steps;                 /* ifgsm and pgd iterations; 20 */
  int restarts;              /* pgd; 1 */
  int batch_size;            /* 8 */
  uint64_t seed;             /* 0 */
  const char* device;        /* "auto" */
  int threads;               /* 0 = all cores */
  ima_progress_fn progress;
  void* progress_user;
  /* Fields added later go here, at the end (an older caller's smaller struct_size gets their
   * defaults). */
  const char* attacked;      /* "patch" | "volume", as in ima_evaluate_options; "patch" */
  double overlap;            /* with "volume": [0, 1); 0.5 */
} ima_attack_options;

IMA_EXPORT void ima_attack_options_init(ima_attack_options* options);

/* The adversarial version of one case (every patch of the model's grid, or the whole image with
 * attacked "volume", attacked with the reference labels), in the image's own intensity units, written to `output` (output_length >=
 * the image's length in voxels times channels). */
IMA_EXPORT ima_status ima_attack(const ima_model* model, const ima_case* input, const ima_attack_options* options,
                                 float* output, size_t output_length);

/* ------------------------------------------------------------------------- import (IMA_1.2) */

/* Imports a TorchScript file (torch.jit.save of a traced or scripted module, e.g. from nnU-Net or
 * MONAI) with its JSON metadata sidecar (the schema of ima_model_metadata) and writes it to
 * output_path as a .imamodel (atomically; an existing file is replaced). One forward pass on zeros
 * of the patch size checks channels, classes, spatial output size and a float output. TorchScript
 * is code and runs here: import only trusted files. When `model` is not NULL, *model is the
 * imported model (free with ima_model_free), NULL on failure. */
IMA_EXPORT ima_status ima_model_import_torchscript(const char* script_path, const char* sidecar_path,
                                                   const char* output_path, ima_model** model);

/* ------------------------------------------------------------------------- export (IMA_1.3) */

typedef enum {
  /* The network of an imported model (ima_model_import_torchscript), with its current weights,
   * as a TorchScript file torch.jit.load reads; other models are refused. */
  IMA_EXPORT_TORCHSCRIPT = 0,
  /* The weights of any model, the project's own U-Net included, as a file torch.load reads:
   * {"state_dict": {name: tensor}, "metadata": JSON}; imaseg.unet.load rebuilds the U-Net. */
  IMA_EXPORT_STATE_DICT = 1,
  /* Not a format: makes the enum as wide as an int, so that C++ may hold any value a C caller
   * passes (the library refuses unknown values with IMA_ERROR_INVALID_ARGUMENT). */
  IMA_EXPORT_FORMAT_MAX_ENUM = 0x7FFFFFFF
} ima_export_format;

/* Hands `model` back to PyTorch (docs/import.md): writes output_path atomically (an existing file
 * is replaced, except the model file the handle was loaded from, which is refused). */
IMA_EXPORT ima_status ima_model_export(const ima_model* model, ima_export_format format, const char* output_path);

#ifdef __cplusplus
}
#endif

#endif /* IMA_H */

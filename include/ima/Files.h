// Whole-file reads and atomic writes (temporary name, fsync, rename), so a failed run never leaves a
// partial model, checkpoint, report, image, DICOM object or return-parameter file
// (docs/architecture.md §8). Every writer of the project (these helpers, ima::io's image files,
// the DICOM SEG writer) places its files through flushFile and moveIntoPlace. Errors are ima::Error
// naming the file the user asked for.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace ima {

std::string readFileBytes(const std::string& path, const std::string& what);
void writeFileAtomically(const std::string& path, const std::string& bytes);

// Takes the bytes of a file being written, in order.
using ByteSink = std::function<void(const void* data, size_t size)>;
// The same for content that is never held whole (checkpoints): `produce` hands it to the sink
// piece by piece. A failed write is reported once `produce` returns (the later pieces are dropped);
// an exception from `produce` removes the temporary and propagates.
void writeFileAtomically(const std::string& path, const std::function<void(const ByteSink&)>& produce);

// A temporary name next to `path` (same directory, so the final rename stays on one file system),
// unique within this process and among processes.
std::string temporaryPathFor(const std::string& path);
// Flushes the written file `file` to the disk (fsync), so a deferred write error (a full disk)
// shows now and not after the file has taken its final name. Throws naming `target`.
void flushFile(const std::string& file, const std::string& target);
// Renames the finished, flushed `temporary` to `path`, replacing any file there; on failure the
// temporary is removed and nothing changes at `path`.
void moveIntoPlace(const std::string& temporary, const std::string& path);

}  // namespace ima

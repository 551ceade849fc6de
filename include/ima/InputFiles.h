// The files a command reads, so that none of its outputs can replace one of them, whatever the
// spelling: an output is compared with every input by device and inode (symbolic links, hard links,
// "..", bind mounts all resolve to the same pair), with or without --force. Every writer of the
// command line, the C API and the Slicer modules checks its outputs here before any work
// (docs/reliability.md).
#pragma once
#include <string>
#include <vector>

#include <sys/types.h>

namespace ima {

class InputFiles {
public:
  // A file, or a directory standing for every file below it (recursively). A path that does not
  // exist is ignored: reading it fails elsewhere, and nothing can overwrite it.
  InputFiles& add(const std::string& path);
  InputFiles& add(const std::vector<std::string>& paths);

  // Throws ima::Error "<what> '<output>' is the input '<input>' ..." when `output`, after following
  // symbolic links, is one of the inputs. An output that does not exist yet passes.
  void checkNotAnInput(const std::string& output, const std::string& what) const;

private:
  struct File {
    std::string path;
    dev_t device;
    ino_t inode;
  };
  std::vector<File> files_;
};

// True when `a` and `b` name the same file: the same device and inode when both exist, else the
// same path once symbolic links and ".." are resolved (two outputs of one command must differ).
bool sameFile(const std::string& a, const std::string& b);

}  // namespace ima

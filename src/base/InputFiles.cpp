#include "ima/InputFiles.h"

#include <filesystem>

#include <sys/stat.h>

#include "ima/Error.h"

namespace fs = std::filesystem;

namespace ima {

InputFiles& InputFiles::add(const std::string& path) {
  if (path.empty()) return *this;
  struct stat s;
  if (::stat(path.c_str(), &s) != 0) return *this;
  if (!S_ISDIR(s.st_mode)) {
    files_.push_back({path, s.st_dev, s.st_ino});
    return *this;
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat f;
    const std::string file = it->path().string();
    if (::stat(file.c_str(), &f) == 0 && !S_ISDIR(f.st_mode)) files_.push_back({file, f.st_dev, f.st_ino});
  }
  return *this;
}

InputFiles& InputFiles::add(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) add(p);
  return *this;
}

void InputFiles::checkNotAnInput(const std::string& output, const std::string& what) const {
  struct stat s;
  if (output.empty() || ::stat(output.c_str(), &s) != 0) return;
  for (const File& f : files_)
    if (f.device == s.st_dev && f.inode == s.st_ino)
      throw Error(what + " '" + output + "' is the input '" + f.path +
                  (f.path == output ? "'" : "' (the same file under another name)") +
                  "; an output never replaces an input, even with --force: choose another name");
}

bool sameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ea, eb;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a), ea), cb = fs::weakly_canonical(fs::absolute(b), eb);
  return !ea && !eb && ca == cb;
}

}  // namespace ima

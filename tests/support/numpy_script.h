#pragma once
// Runs a Python snippet with NumPy, for interop tests. The python3 first on PATH may lack
// numpy; Debian's /usr/bin/python3 has it when python3-numpy is installed (scripts/setup.sh
// installs it), so that one is tried first.

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace xgrad::testing {

struct PythonRun {
  bool found = false;  ///< an interpreter with numpy ran the script
  int status = 0;      ///< its exit status
  std::string output;  ///< stdout and stderr
};

/// Writes `body` (after `import numpy as np`, with `d` = `dir`) to dir/script.py, runs it with
/// the first interpreter that has numpy, removes the script and returns what it printed.
inline PythonRun run_numpy_script(const std::string& dir, const std::string& body) {
  const std::string script = (std::filesystem::path(dir) / "script.py").string();
  {
    std::ofstream out(script, std::ios::binary);
    out << "import sys, zlib\n"
           "try:\n"
           "    import numpy as np\n"
           "except ImportError:\n"
           "    print('XGRAD_NO_NUMPY')\n"
           "    sys.exit(0)\n"
           "sys.stdout.reconfigure(encoding='utf-8')\n"
           "d = sys.argv[1]\n"
        << body;
  }
  PythonRun result;
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    const std::string cmd = std::string(python) + " '" + script + "' '" + dir + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) continue;
    std::string out;
    char buf[4096];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int status = ::pclose(p);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) == 127 ||
        out.find("XGRAD_NO_NUMPY") != std::string::npos) {
      continue;
    }
    result = {true, WEXITSTATUS(status), out};
    break;
  }
  std::error_code ec;
  std::filesystem::remove(script, ec);
  return result;
}

}  // namespace xgrad::testing

#include "watch/watch.h"

namespace fts::watch {

// What any Python / PyTorch / CUDA process reads on its way to a first step.
// Reads under these are not reported for jobs (writes always are); a policy
// extends the list with `data.base`. Deliberately absent: /etc/ld.so.preload
// (preload injection), home directories, /tmp, /var and /srv (where data lives).
const std::vector<std::string>& base_list() {
  static const std::vector<std::string> kList = {
      // binaries, shared libraries, interpreters, site-packages, CUDA under /usr/local
      "/usr/**", "/lib/**", "/lib32/**", "/lib64/**", "/libx32/**", "/bin/**", "/sbin/**", "/opt/conda/**",
      // kernel interfaces and devices (GPUs, /dev/shm for DataLoader workers)
      "/proc/**", "/sys/**", "/dev/**",
      // the dynamic loader, name service, time, locale, TLS roots
      "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d/**", "/etc/localtime", "/etc/timezone",
      "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/hosts", "/etc/resolv.conf",
      "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/mime.types", "/etc/os-release",
      "/etc/locale.alias", "/etc/default/locale", "/etc/ssl/**", "/etc/ca-certificates/**", "/etc/pki/**",
      "/etc/alternatives/**", "/etc/python3/**", "/etc/python3.11/**", "/etc/matplotlibrc", "/etc/nvidia/**",
      "/etc/OpenCL/**", "/etc/machine-id",
      // what any program (coreutils, the shell, glibc, libselinux, fontconfig) asks
      // of the host: its name, release, shells, terminal, zone (/etc/localtime
      // points into /usr/share/zoneinfo)
      "/etc/hostname", "/etc/mailname", "/etc/debian_version", "/etc/lsb-release", "/etc/issue", "/etc/environment",
      "/etc/shells", "/etc/inputrc", "/etc/bash.bashrc", "/etc/profile", "/etc/profile.d/**", "/etc/terminfo/**",
      "/etc/magic", "/etc/networks", "/etc/rpc", "/etc/mtab", "/etc/adjtime", "/etc/login.defs",
      "/etc/selinux/config", "/etc/locale.conf", "/etc/locale.gen", "/etc/papersize", "/etc/fonts/**",
      "/etc/xdg/**", "/var/lib/dbus/machine-id",
      // per-user Python packages and tool caches
      "/root/.local/lib/**", "/home/*/.local/lib/**", "/root/.pyenv/**", "/home/*/.pyenv/**",
      "/root/.cache/torch/kernels/**", "/run/nvidia-persistenced/**",
  };
  return kList;
}

}  // namespace fts::watch

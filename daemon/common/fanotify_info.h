// The information records that follow a fanotify event's metadata (pidfd,
// file handles with names), walked in order. One walker for every reader of
// a fanotify group: the backstop's changes, the devices' opens.
#ifndef FTS_COMMON_FANOTIFY_INFO_H
#define FTS_COMMON_FANOTIFY_INFO_H

#include <sys/fanotify.h>

namespace fts {

// Calls fn(header) for each record of event `m`; a record whose length is
// zero or runs past the event ends the walk.
template <typename Fn>
void for_each_info(const fanotify_event_metadata* m, Fn&& fn) {
  const char* p = reinterpret_cast<const char*>(m) + m->metadata_len;
  const char* end = reinterpret_cast<const char*>(m) + m->event_len;
  while (p + sizeof(fanotify_event_info_header) <= end) {
    auto* h = reinterpret_cast<const fanotify_event_info_header*>(p);
    if (h->len == 0 || p + h->len > end) break;
    fn(h);
    p += h->len;
  }
}

}  // namespace fts

#endif  // FTS_COMMON_FANOTIFY_INFO_H

#pragma once
// ftsentinel runs | review | export | report | verify: the journal's readers.
#include <string>
#include <vector>

namespace fts::cli {

// socket: for asking the daemon where its journal is when --journal is absent.
int journal_command(const std::string& command, const std::string& socket, const std::vector<std::string>& args);
bool is_journal_command(const std::string& command);

}  // namespace fts::cli

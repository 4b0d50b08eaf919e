#pragma once
// The schema's C++ namespace (package ftsentinel.v1) as the code names it.
namespace ftsentinel::v1 {}
namespace fts {
namespace v1 = ::ftsentinel::v1;
}

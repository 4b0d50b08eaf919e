"""scripts/check_function_length on small sources: it names each function over
the limit once, by name and first line, and is not fooled by braces in
strings, characters, comments, raw strings or preprocessor lines, nor by
classes, namespaces, initializers and control blocks."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "check_function_length")


def body(n):
    return "".join(f"  x += {i};\n" for i in range(n))


CXX = (
    "#include <string>\n"
    "#define OPEN {\n"
    "namespace a {\n"
    "class C {\n"
    " public:\n"
    "  int member(int x) const {\n" + body(6) + "    return x;\n  }\n"  # short member
    "};\n"
    "static const char* kTable[] = {\"{\", \"}\"};\n"
    "int long_one(int x) {\n"
    "  const char* s = \"}}}\"; char c = '}'; // }\n"
    "  /* } */\n"
    "  auto r = R\"(}})\";\n"
    "  if (x) {\n" + body(10) + "  }\n"
    "  for (;;) { break; }\n" + body(70) + "  return x;\n}\n"
    "Widget::Widget(int v) : a_{v}, b_(v) {\n" + body(3) + "}\n"
    "}  // namespace a\n")

C = ("SEC(\"tp_btf/sched_process_exec\")\n"
     "int BPF_PROG(fts_exec, struct task_struct *p)\n{\n" + body(85) + "\treturn 0;\n}\n")


class CheckFunctionLengthTest(unittest.TestCase):
    def run_on(self, files, *args):
        with tempfile.TemporaryDirectory() as d:
            for name, text in files.items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            r = subprocess.run([sys.executable, SCRIPT, *args, d], capture_output=True, text=True, timeout=60)
            return r.returncode, [line.split(": ", 1)[1] for line in r.stdout.splitlines()]

    def test_names_the_long_functions_only(self):
        rc, out = self.run_on({"a.cc": CXX, "b.bpf.c": C})
        self.assertEqual(rc, 1)
        self.assertEqual(out, ["long_one: 89 lines (at most 80)", "fts_exec: 90 lines (at most 80)"])

    def test_a_limit_above_every_function_passes(self):
        rc, out = self.run_on({"a.cc": CXX, "b.bpf.c": C}, "--max", "90")
        self.assertEqual((rc, out), (0, []))


if __name__ == "__main__":
    unittest.main()

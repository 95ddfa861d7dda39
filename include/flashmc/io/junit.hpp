#pragma once
// A JUnit XML report (the format Jenkins, GitLab and GitHub test reporters read): one <testsuites>
// holding one <testsuite> of test cases, each passed, failed (<failure>), skipped (<skipped>) or in
// error (<error>), with an optional <system-out>. Attribute and text values are escaped; characters
// XML 1.0 cannot carry are replaced by U+FFFD. tests/data/junit.xsd is the schema it is checked against.
#include <string>
#include <vector>

namespace flashmc::io {

struct JunitCase {
    enum class Outcome { passed, failure, skipped, error };
    std::string classname, name;
    double time_s = 0;
    Outcome outcome = Outcome::passed;
    std::string message;     // the failure's, skip's or error's message attribute
    std::string detail;      // its text
    std::string system_out;  // empty: none
};

struct JunitSuite {
    std::string name;
    double time_s = 0;
    std::string timestamp;  // ISO 8601; empty: none
    std::vector<JunitCase> cases;
};

std::string junit_xml(const JunitSuite& suite);
// Written atomically (io/atomic_file.hpp).
void write_junit(const std::string& path, const JunitSuite& suite);

}  // namespace flashmc::io

// JUnit XML reports (io/junit.hpp): counts, escaping, and validity against tests/data/junit.xsd
// (the format CI servers read), checked with xmllint where it is installed.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "flashmc/io/junit.hpp"
#include "../test_util.hpp"

using namespace flashmc;

namespace {

io::JunitSuite sample() {
    io::JunitSuite s;
    s.name = "suite <&> \"q\"";
    s.time_s = 12.5;
    s.timestamp = "2026-12-03T10:00:00Z";
    io::JunitCase ok{"cls", "passes", 1.25, io::JunitCase::Outcome::passed, "", "", "measured 90 %"};
    io::JunitCase bad{"cls", "fails", 0.5, io::JunitCase::Outcome::failure, "drop 3 > 2 & worse\nsecond line", "a <detail>", ""};
    io::JunitCase undecided{"cls", "undecided", 0, io::JunitCase::Outcome::skipped, "bounds [1, 3]", "", ""};
    io::JunitCase broken{"cls", "bad\x01name \xff", 0, io::JunitCase::Outcome::error, "\xc3\xa9t\xc3\xa9 \xe2\x80\x94 ok", "", ""};
    s.cases = {ok, bad, undecided, broken};
    return s;
}

}  // namespace

TEST_CASE("a JUnit report counts its cases and escapes every value", "[io][junit]") {
    const std::string x = io::junit_xml(sample());
    REQUIRE_THAT(x, Catch::StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"suite &lt;&amp;&gt; &quot;q&quot;\" "
                                      "tests=\"4\" failures=\"1\" errors=\"1\" time=\"12.500\">"));
    REQUIRE_THAT(x, Catch::Contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"12.500\" timestamp=\"2026-12-03T10:00:00Z\">"));
    REQUIRE_THAT(x, Catch::Contains("<testcase classname=\"cls\" name=\"passes\" time=\"1.250\">\n      <system-out>measured 90 %</system-out>"));
    REQUIRE_THAT(x, Catch::Contains("<failure message=\"drop 3 &gt; 2 &amp; worse&#10;second line\">a &lt;detail&gt;</failure>"));
    REQUIRE_THAT(x, Catch::Contains("<skipped message=\"bounds [1, 3]\"></skipped>"));
    // A control character and a stray byte become U+FFFD; valid UTF-8 passes through.
    REQUIRE_THAT(x, Catch::Contains("name=\"bad\xEF\xBF\xBDname \xEF\xBF\xBD\""));
    REQUIRE_THAT(x, Catch::Contains("<error message=\"\xc3\xa9t\xc3\xa9 \xe2\x80\x94 ok\">"));
}

TEST_CASE("a JUnit report validates against the JUnit schema CI servers use", "[io][junit]") {
    if (test::run_shell("command -v xmllint").code != 0) {
        WARN("xmllint not installed (Debian: libxml2-utils): schema validation skipped");
        return;
    }
    test::TempDir dir("junit");
    const std::string xsd = test::source_dir() + "/tests/data/junit.xsd";
    io::write_junit(dir / "r.xml", sample());
    const auto ok = test::run_shell("xmllint --noout --schema " + xsd + " " + dir / "r.xml");
    INFO(ok.output);
    REQUIRE(ok.code == 0);
    io::JunitSuite empty;
    empty.name = "none";
    io::write_junit(dir / "e.xml", empty);
    REQUIRE(test::run_shell("xmllint --noout --schema " + xsd + " " + dir / "e.xml").code == 0);
    // The schema is not vacuous: a case without its name, or a failure outside a case, is refused.
    std::ofstream(dir / "bad.xml") << "<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase time=\"1\"/></testsuite></testsuites>";
    REQUIRE(test::run_shell("xmllint --noout --schema " + xsd + " " + dir / "bad.xml").code != 0);
    std::ofstream(dir / "bad2.xml") << "<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"1\" errors=\"0\"><failure/></testsuite></testsuites>";
    REQUIRE(test::run_shell("xmllint --noout --schema " + xsd + " " + dir / "bad2.xml").code != 0);
}

#include "flashmc/io/toml.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <toml++/toml.h>

#include "flashmc/core/error.hpp"

namespace flashmc {

struct TomlDocument::Impl {
    toml::table table;
    std::string source, text;
    std::map<std::string, std::string> overrides;          // full key path → the assignment that set it
    std::map<std::string, std::set<std::string>> declared;  // section path → keys and tables read in it
};

namespace {

std::string fmt_number(double v) {
    std::ostringstream os;
    os << std::setprecision(12) << v;
    return os.str();
}

std::string describe(const toml::node& n) {
    std::ostringstream os;
    n.visit([&](const auto& v) { os << v; });
    std::ostringstream type;
    type << n.type();
    return type.str() + ' ' + abbreviate(os.str());
}

std::string range_message(const std::string& key, double v, Range r) {
    return "key '" + key + "' = " + fmt_number(v) + " is out of range [" + fmt_number(r.lo) + ", " + fmt_number(r.hi) + "]";
}

std::vector<std::string> split_dots(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == '.') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::string join(const std::string& section, const std::string& key) { return section.empty() ? key : section + "." + key; }

std::string closest(const std::string& word, const std::set<std::string>& candidates) {
    std::string best;
    std::size_t best_d = static_cast<std::size_t>(-1);
    const std::size_t accept = std::max<std::size_t>(2, word.size() / 3);
    for (const auto& c : candidates) {
        // The distance is at least the difference in length: skip the candidates that cannot be accepted.
        if (std::max(word.size(), c.size()) - std::min(word.size(), c.size()) > accept) continue;
        std::size_t d = edit_distance(word, c);
        if (d < best_d) best_d = d, best = c;
    }
    return best_d <= accept ? best : "";
}

std::string list(const std::set<std::string>& s) {
    std::string out;
    for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
    return out;
}

}  // namespace

void check_range(const std::string& key, double value, Range range) {
    if (!(value >= range.lo && value <= range.hi)) fail(range_message(key, value, range));
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

// ---- document -------------------------------------------------------------------------------

TomlDocument::TomlDocument(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TomlDocument::TomlDocument(TomlDocument&&) noexcept = default;
TomlDocument& TomlDocument::operator=(TomlDocument&&) noexcept = default;
TomlDocument::~TomlDocument() = default;

TomlDocument TomlDocument::from_string(const std::string& text, const std::string& source_name) {
    auto impl = std::make_unique<Impl>();
    impl->source = source_name;
    impl->text = text;
    try {
        impl->table = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        fail(source_name, ":", e.source().begin.line, ":", e.source().begin.column, ": TOML parse error: ", e.description());
    }
    return TomlDocument(std::move(impl));
}

TomlDocument TomlDocument::from_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open file (not found or not readable)");
    // At most 16 MiB: a longer file (or an endless device) is not an input file.
    constexpr std::size_t kMaxBytes = std::size_t{16} << 20;
    std::string text;
    char chunk[1 << 16];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        text.append(chunk, static_cast<std::size_t>(in.gcount()));
        if (text.size() > kMaxBytes) fail(path, ": more than ", kMaxBytes, " bytes; not an input file");
    }
    return from_string(text, path);
}

const std::string& TomlDocument::source() const { return impl_->source; }
const std::string& TomlDocument::text() const { return impl_->text; }

std::string TomlDocument::origin(const std::string& path) const {
    auto it = impl_->overrides.find(path);
    return it == impl_->overrides.end() ? impl_->source : impl_->source + " (--set " + abbreviate(it->second) + ")";
}

void TomlDocument::set(const std::string& assignment) {
    const auto eq = assignment.find('=');
    const std::string path = eq == std::string::npos ? "" : trim(assignment.substr(0, eq));
    const std::string value = eq == std::string::npos ? "" : trim(assignment.substr(eq + 1));
    const auto parts = split_dots(path);
    bool bad = path.empty() || value.empty();
    for (const auto& p : parts) bad = bad || p.empty();
    if (bad) fail(impl_->source, ": override '", abbreviate(assignment), "' is not of the form section.key=value");

    toml::table parsed;
    try {
        parsed = toml::parse("v = " + value);
    } catch (const toml::parse_error& e) {
        // Text that is not TOML is taken as a string (--set chip.program=verify, --set model.file=a/b.h5),
        // except what was meant as an array, a table, a quoted string or a number but does not parse:
        // [1, 2 or 18446744073709551615 (not representable in 64 bits)
        const bool numeric = value.find_first_not_of("0123456789+-._eE") == std::string::npos &&
                             value.find_first_of("0123456789") != std::string::npos;
        const bool meant_toml = numeric || std::string_view("[{\"'").find(value.front()) != std::string_view::npos;
        const bool control = std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
        if (meant_toml || control)
            fail(impl_->source, " (--set ", abbreviate(assignment), "): the value does not parse as TOML: ", e.description());
        parsed = toml::table{};
        parsed.insert("v", value);
    }
    toml::table* cur = &impl_->table;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        toml::node* n = cur->get(parts[i]);
        if (!n) {
            cur->insert(parts[i], toml::table{});
            n = cur->get(parts[i]);
        }
        if (!n->is_table())
            fail(impl_->source, " (--set ", abbreviate(assignment), "): '", abbreviate(parts[i]), "' is a value, not a table");
        cur = n->as_table();
    }
    parsed.get("v")->visit([&](const auto& v) { cur->insert_or_assign(parts.back(), v); });
    impl_->overrides[path] = assignment;
    impl_->text += "\n# --set " + assignment;
}

void TomlDocument::finish() const {
    // Walks the tables depth-first; the first undeclared key or table is the error.
    auto walk = [this](auto&& self, const toml::table& t, const std::string& section) -> void {
        const auto decl = impl_->declared.find(section);
        static const std::set<std::string> none;
        const std::set<std::string>& known = decl == impl_->declared.end() ? none : decl->second;
        for (auto&& [k, node] : t) {
            const std::string key(k.str());
            const std::string full = join(section, key);
            if (!known.count(key)) {
                const std::string near = closest(key, known);
                const std::string where = origin(full);
                if (node.is_table()) {
                    if (!near.empty()) fail(where, ": unknown section [", abbreviate(full), "]; did you mean [", join(section, near), "]?");
                    fail(where, ": unknown section [", abbreviate(full), "]", known.empty() ? "" : "; valid here: " + list(known));
                }
                const std::string in = section.empty() ? " at top level" : " in [" + abbreviate(section) + "]";
                if (!near.empty()) fail(where, ": unknown key '", abbreviate(key), "'", in, "; did you mean '", near, "'?");
                fail(where, ": unknown key '", abbreviate(key), "'", in, known.empty() ? "" : "; valid keys: " + list(known));
            }
            if (node.is_table()) self(self, *node.as_table(), full);
            if (const toml::array* a = node.as_array(); a && !a->empty() && a->is_array_of_tables())
                for (std::size_t i = 0; i < a->size(); ++i) self(self, *a->get(i)->as_table(), full + "[" + std::to_string(i) + "]");
        }
    };
    walk(walk, impl_->table, "");
}

// ---- sections -------------------------------------------------------------------------------

namespace {

// A section path: dotted names, each possibly an element of an array of tables ("requirement[2]").
const toml::table* find_table(const toml::table& root, const std::string& name) {
    if (name.empty()) return &root;
    const toml::table* cur = &root;
    for (const auto& p : split_dots(name)) {
        const auto bracket = p.find('[');
        const toml::node* n = cur->get(p.substr(0, bracket));
        if (n && bracket != std::string::npos) {
            const toml::array* a = n->as_array();
            const std::size_t i = std::stoul(p.substr(bracket + 1));
            n = a && i < a->size() ? a->get(i) : nullptr;
        }
        if (!n || !n->is_table()) return nullptr;
        cur = n->as_table();
    }
    return cur;
}

}  // namespace

TomlSection TomlSection::section(const std::string& name) const {
    doc_->impl_->declared[name_].insert(name);
    const std::string full = path(name);
    doc_->impl_->declared[full];  // an empty section is still known
    if (const toml::table* t = find_table(doc_->impl_->table, name_)) {
        const toml::node* n = t->get(name);
        if (n && !n->is_table()) fail(doc_->origin(full), ": '", full, "' must be a table, got ", describe(*n));
    }
    return TomlSection(doc_, full);
}

std::vector<TomlSection> TomlSection::tables(const std::string& key) const {
    doc_->impl_->declared[name_].insert(key);
    const toml::table* t = find_table(doc_->impl_->table, name_);
    const toml::node* n = t ? t->get(key) : nullptr;
    std::vector<TomlSection> out;
    if (!n) return out;
    const std::string full = path(key);
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables())
        fail(doc_->origin(full), ": '", full, "' must be an array of tables ([[", full, "]] blocks), got ", describe(*n));
    for (std::size_t i = 0; i < a->size(); ++i) {
        const std::string element = full + "[" + std::to_string(i) + "]";
        doc_->impl_->declared[element];  // an empty element is still known
        out.push_back(TomlSection(doc_, element));
    }
    return out;
}

std::vector<std::string> TomlSection::keys() const {
    std::vector<std::string> out;
    if (const toml::table* t = find_table(doc_->impl_->table, name_))
        for (auto&& [k, node] : *t) out.emplace_back(k.str());
    return out;
}

bool TomlSection::has(const std::string& key) const {
    doc_->impl_->declared[name_].insert(key);
    const toml::table* t = find_table(doc_->impl_->table, name_);
    return t && t->get(key);
}

void TomlSection::require_present(const std::string& key) const {
    if (!has(key)) fail(doc_->source(), ": missing required key '", path(key), "'", name_.empty() ? "" : " in [" + name_ + "]");
}

namespace {

// The node for `key`, declaring it; nullptr when absent.
const toml::node* lookup(TomlDocument::Impl& impl, const std::string& section, const std::string& key) {
    impl.declared[section].insert(key);
    const toml::table* t = find_table(impl.table, section);
    return t ? t->get(key) : nullptr;
}

double number_of(const toml::node& n, const std::string& where, const std::string& full) {
    if (auto i = n.as_integer()) return static_cast<double>(i->get());
    if (auto f = n.as_floating_point()) return f->get();
    fail(where, ": key '", full, "' must be a number, got ", describe(n));
}

void check_range(double v, Range r, const std::string& where, const std::string& full) {
    if (!(v >= r.lo && v <= r.hi)) fail(where, ": ", range_message(full, v, r));
}

}  // namespace

void TomlSection::read(const std::string& key, double& out, Range range) const {
    const toml::node* n = lookup(*doc_->impl_, name_, key);
    if (!n) return;
    const std::string full = path(key), where = doc_->origin(full);
    double v = number_of(*n, where, full);
    check_range(v, range, where, full);
    out = v;
}

void TomlSection::read(const std::string& key, long& out, Range range) const {
    const toml::node* n = lookup(*doc_->impl_, name_, key);
    if (!n) return;
    const std::string full = path(key), where = doc_->origin(full);
    auto i = n->as_integer();
    if (!i) fail(where, ": key '", full, "' must be an integer, got ", describe(*n));
    check_range(static_cast<double>(i->get()), range, where, full);
    out = static_cast<long>(i->get());
}

void TomlSection::read(const std::string& key, int& out, Range range) const {
    long v = out;
    read(key, v, range);
    out = static_cast<int>(v);
}

void TomlSection::read(const std::string& key, bool& out) const {
    const toml::node* n = lookup(*doc_->impl_, name_, key);
    if (!n) return;
    auto b = n->as_boolean();
    if (!b) fail(doc_->origin(path(key)), ": key '", path(key), "' must be true or false, got ", describe(*n));
    out = b->get();
}

void TomlSection::read(const std::string& key, std::string& out, const std::vector<std::string>& choices) const {
    const toml::node* n = lookup(*doc_->impl_, name_, key);
    if (!n) return;
    const std::string full = path(key), where = doc_->origin(full);
    auto s = n->as_string();
    if (!s) fail(where, ": key '", full, "' must be a string, got ", describe(*n));
    if (!choices.empty() && std::find(choices.begin(), choices.end(), s->get()) == choices.end()) {
        std::string allowed;
        for (const auto& c : choices) allowed += (allowed.empty() ? "" : ", ") + c;
        fail(where, ": key '", full, "' = \"", abbreviate(s->get()), "\" is not one of: ", allowed);
    }
    out = s->get();
}

void TomlSection::read(const std::string& key, std::vector<double>& out, Range range) const {
    const toml::node* n = lookup(*doc_->impl_, name_, key);
    if (!n) return;
    const std::string full = path(key), where = doc_->origin(full);
    auto a = n->as_array();
    if (!a) fail(where, ": key '", full, "' must be an array of numbers, got ", describe(*n));
    std::vector<double> v;
    for (std::size_t i = 0; i < a->size(); ++i) {
        const std::string fi = full + "[" + std::to_string(i) + "]";
        v.push_back(number_of(*a->get(i), where, fi));
        check_range(v.back(), range, where, fi);
    }
    out = std::move(v);
}

void TomlSection::read(const std::string& key, std::vector<std::string>& out) const {
    const toml::node* n = lookup(*doc_->impl_, name_, key);
    if (!n) return;
    const std::string full = path(key), where = doc_->origin(full);
    auto a = n->as_array();
    if (!a) fail(where, ": key '", full, "' must be an array of strings, got ", describe(*n));
    std::vector<std::string> v;
    for (std::size_t i = 0; i < a->size(); ++i) {
        auto s = a->get(i)->as_string();
        if (!s) fail(where, ": key '", full, "[", i, "]' must be a string, got ", describe(*a->get(i)));
        v.push_back(s->get());
    }
    out = std::move(v);
}

}  // namespace flashmc

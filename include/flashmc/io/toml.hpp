#pragma once
// Strict TOML input (device cards, sweep files). A program declares every key it knows by reading
// it; finish() then rejects whatever was not read, naming the file, the key and the closest valid
// key. Values are type- and range-checked on read. Command-line overrides ("section.key=value")
// are merged into the document first and so pass through exactly the same checks. Messages:
//   FILE: unknown key 'sigma_vt_v' in [variation]; did you mean 'sigma_vth_v'?
//   FILE: key 'variation.sigma_vth_v' = 3 is out of range [0, 1]
//   FILE: key 'program.max_pulses' must be an integer, got string "many"
// (for an overridden key FILE reads "FILE (--set variation.sigma_vth_v=3)").
#include <memory>
#include <string>
#include <vector>

namespace flashmc {

struct Range {
    double lo, hi;  // closed interval [lo, hi]
};

// Throws "key 'KEY' = VALUE is out of range [LO, HI]" unless lo <= value <= hi (NaN fails).
// Parameter structs use it in validate(), with the same wording as the TOML reader.
void check_range(const std::string& key, double value, Range range);

class TomlDocument;

// A view of one table ([section], or the root when the name is empty). Reading a key declares it.
class TomlSection {
public:
    // Optional keys: `out` keeps its value (the default) when the key is absent.
    void read(const std::string& key, double& out, Range range) const;
    void read(const std::string& key, int& out, Range range) const;
    void read(const std::string& key, long& out, Range range) const;
    void read(const std::string& key, bool& out) const;
    // choices empty: any string; otherwise the value must be one of them.
    void read(const std::string& key, std::string& out, const std::vector<std::string>& choices = {}) const;
    void read(const std::string& key, std::vector<double>& out, Range range) const;
    void read(const std::string& key, std::vector<std::string>& out) const;
    // Required keys: as read(), but an absent key is an error.
    template <class T, class... Rest>
    void require(const std::string& key, T& out, const Rest&... rest) const {
        require_present(key);
        read(key, out, rest...);
    }
    bool has(const std::string& key) const;  // declares the key too
    TomlSection section(const std::string& name) const;  // a nested table, declared
    // An array of tables ([[key]] blocks, or key = [{...}, ...]), declared: one section per element,
    // named "key[i]" in messages (i from 0). Absent: none. finish() checks every element's keys.
    std::vector<TomlSection> tables(const std::string& key) const;
    // The keys this table holds, in key order (declaring none): for tables whose keys are
    // names from elsewhere (a sweep's axes); read them, or finish() rejects them.
    std::vector<std::string> keys() const;
    const std::string& name() const { return name_; }
    std::string path(const std::string& key) const { return name_.empty() ? key : name_ + "." + key; }

private:
    friend class TomlDocument;
    TomlSection(TomlDocument* doc, std::string name) : doc_(doc), name_(std::move(name)) {}
    void require_present(const std::string& key) const;
    TomlDocument* doc_;
    std::string name_;
};

class TomlDocument {
public:
    // Parse errors name the file, line and column. A missing file is an error naming the path.
    static TomlDocument from_file(const std::string& path);
    static TomlDocument from_string(const std::string& text, const std::string& source_name);
    TomlDocument(TomlDocument&&) noexcept;
    TomlDocument& operator=(TomlDocument&&) noexcept;
    ~TomlDocument();

    // Applies "section.key=value" (dotted sections allowed; the last component is the key). The
    // value is parsed as a TOML value; a bare word that is not valid TOML is taken as a string.
    // Unknown keys and bad values are reported by the reads and finish(), naming the override.
    void set(const std::string& assignment);
    void set_all(const std::vector<std::string>& assignments) {
        for (const auto& a : assignments) set(a);
    }

    TomlSection root() { return TomlSection(this, ""); }
    TomlSection section(const std::string& name) { return root().section(name); }
    // Throws on the first key or table that no read declared.
    void finish() const;

    const std::string& source() const;  // the file name (or the name given to from_string)
    const std::string& text() const;    // the full input text, then one line per override
    // "FILE" or "FILE (--set a.b=v)" when `path` came from an override.
    std::string origin(const std::string& path) const;

    struct Impl;

private:
    friend class TomlSection;
    explicit TomlDocument(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Levenshtein edit distance, used to suggest the closest valid key.
std::size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace flashmc

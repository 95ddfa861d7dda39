#pragma once
// Edit scripts on ONNX models, for the structure-aware target fuzz_onnx (fuzz/README.md). Mutating a
// protobuf byte by byte mostly breaks its encoding, so the fuzzer would spend its time in protobuf's
// parser; here an input instead picks a valid model and edits its fields through protobuf's
// reflection, and the importer sees a well-formed model with arbitrary content.
//
// Input: byte 0 picks the seed model (onnx_seeds()), then edits of 4 bytes each: OP, FIELD (2 bytes,
// big-endian: one field of one message anywhere in the model, counted over every field of every
// message present, set or not), VALUE (an index into the tables of troublemakers below, or of the
// strings in the model). OP:
//   0 set: a scalar field (a repeated one: its element VALUE, or a new one) to a value of the table;
//     a message field: created empty
//   1 add: a repeated field gets a new element (a message: a copy of element VALUE, or an empty one)
//   2 clear: the field (a repeated one: its last element)
//   3 swap: elements 0.. of a repeated field (nodes out of order, inputs reordered)
//   4 name: a string field becomes another string of the model (cycles, duplicates, dangling names)
//   5 resize: a bytes or string field (raw_data) to a length from the table
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace flashmc::fuzz {

namespace pb = google::protobuf;

// The seeds: the test fixture (a torch export, opset 13) and the two models of
// scripts/make_onnx_fuzz_seeds.py (also the raw target's corpus).
inline const std::vector<std::string>& onnx_seeds() {
    static const std::vector<std::string> seeds = [] {
        std::vector<std::string> s;
        for (const char* f : {"/tests/data/onnx/net.onnx", "/fuzz/corpus/onnx_raw/matmul13.onnx", "/fuzz/corpus/onnx_raw/gemm9.onnx"}) {
            std::ifstream in(std::string(FLASHMC_SOURCE_DIR) + f, std::ios::binary);
            std::stringstream b;
            b << in.rdbuf();
            if (!in || b.str().empty()) std::abort();
            s.push_back(b.str());
        }
        return s;
    }();
    return seeds;
}

struct Site {
    pb::Message* msg;
    const pb::FieldDescriptor* field;
};

inline void collect_sites(pb::Message* m, std::vector<Site>& out, std::vector<std::string>& strings, int depth) {
    const pb::Descriptor* d = m->GetDescriptor();
    const pb::Reflection* r = m->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
        const pb::FieldDescriptor* f = d->field(i);
        out.push_back({m, f});
        if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING && f->type() == pb::FieldDescriptor::TYPE_STRING) {
            if (f->is_repeated())
                for (int k = 0; k < r->FieldSize(*m, f); ++k) strings.push_back(r->GetRepeatedString(*m, f, k));
            else if (r->HasField(*m, f))
                strings.push_back(r->GetString(*m, f));
        }
        if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || depth >= 12) continue;
        if (f->is_repeated())
            for (int k = 0; k < r->FieldSize(*m, f); ++k) collect_sites(r->MutableRepeatedMessage(m, f, k), out, strings, depth + 1);
        else if (r->HasField(*m, f))
            collect_sites(r->MutableMessage(m, f), out, strings, depth + 1);
    }
}

inline std::int64_t trouble_int(std::uint8_t v) {
    static const std::int64_t t[] = {0, 1, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 32, 33, 63, 64, 65, 100,
                                     1000, 4096, 65535, 65536, 65537, 1L << 26, 1L << 28, (1L << 28) + 1, 1L << 31,
                                     (1L << 31) - 1, -(1L << 31), 1L << 32, (1L << 32) + 3, 1'000'000'000'000L, 1L << 62,
                                     std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(), -2, -3, -64};
    constexpr std::size_t n = sizeof t / sizeof t[0];
    return v < 2 * n ? t[v % n] : static_cast<std::int64_t>(v) - 200;  // and small values around zero
}

inline double trouble_real(std::uint8_t v) {
    static const double t[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 6.0, 255.0, 1e-5, 1e-30, 1e-45, 1e-7, 1e6, 1e7, 1e30, 3.4e38, -3.4e38,
                               std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(), 0.99, 1.01, -1e30, 0.1};
    constexpr std::size_t n = sizeof t / sizeof t[0];
    return t[v % n];
}

inline std::string trouble_string(std::uint8_t v, const std::vector<std::string>& strings) {
    static const char* const t[] = {"", "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "Add", "Sub", "Mul",
                                    "Div", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Identity",
                                    "Dropout", "Constant", "Pad", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "ai.onnx",
                                    "com.microsoft", "value", "value_float", "value_floats", "value_int", "value_ints",
                                    "kernel_shape", "strides", "pads", "dilations", "group", "axis", "transB", "transA",
                                    "alpha", "beta", "epsilon", "ceil_mode", "auto_pad", "training_mode", "ratio", "min", "max"};
    constexpr std::size_t n = sizeof t / sizeof t[0];
    if (v < n) return t[v];
    if (v == 255) return std::string(5000, 'x');
    return strings.empty() ? std::string() : strings[(v - n) % strings.size()];
}

// Applies one edit (op, site, value) to `m`; edits that do not apply to the field are skipped.
inline void apply_edit(onnx::ModelProto& m, std::uint8_t op, std::uint16_t site, std::uint8_t v) {
    std::vector<Site> sites;
    std::vector<std::string> strings;
    collect_sites(&m, sites, strings, 0);
    const Site s = sites[site % sites.size()];
    pb::Message* msg = s.msg;
    const pb::FieldDescriptor* f = s.field;
    const pb::Reflection* r = msg->GetReflection();
    using F = pb::FieldDescriptor;
    const int size = f->is_repeated() ? r->FieldSize(*msg, f) : 0;
    switch (op % 6) {
    case 0:
    case 1: {
        const bool add = op % 6 == 1 || (f->is_repeated() && size == 0);
        if (f->is_repeated() && !add && size == 0) return;
        const int idx = f->is_repeated() && size > 0 ? v % size : 0;
        switch (f->cpp_type()) {
        case F::CPPTYPE_INT32:
        case F::CPPTYPE_UINT32: {
            const auto x = static_cast<std::int32_t>(trouble_int(v));
            if (f->cpp_type() == F::CPPTYPE_UINT32) {
                if (!f->is_repeated()) r->SetUInt32(msg, f, static_cast<std::uint32_t>(x));
                else if (add) r->AddUInt32(msg, f, static_cast<std::uint32_t>(x));
                else r->SetRepeatedUInt32(msg, f, idx, static_cast<std::uint32_t>(x));
            } else {
                if (!f->is_repeated()) r->SetInt32(msg, f, x);
                else if (add) r->AddInt32(msg, f, x);
                else r->SetRepeatedInt32(msg, f, idx, x);
            }
            break;
        }
        case F::CPPTYPE_INT64:
        case F::CPPTYPE_UINT64: {
            const std::int64_t x = trouble_int(v);
            if (f->cpp_type() == F::CPPTYPE_UINT64) {
                if (!f->is_repeated()) r->SetUInt64(msg, f, static_cast<std::uint64_t>(x));
                else if (add) r->AddUInt64(msg, f, static_cast<std::uint64_t>(x));
                else r->SetRepeatedUInt64(msg, f, idx, static_cast<std::uint64_t>(x));
            } else {
                if (!f->is_repeated()) r->SetInt64(msg, f, x);
                else if (add) r->AddInt64(msg, f, x);
                else r->SetRepeatedInt64(msg, f, idx, x);
            }
            break;
        }
        case F::CPPTYPE_FLOAT:
        case F::CPPTYPE_DOUBLE: {
            const double x = trouble_real(v);
            if (f->cpp_type() == F::CPPTYPE_FLOAT) {
                const auto y = static_cast<float>(x);
                if (!f->is_repeated()) r->SetFloat(msg, f, y);
                else if (add) r->AddFloat(msg, f, y);
                else r->SetRepeatedFloat(msg, f, idx, y);
            } else {
                if (!f->is_repeated()) r->SetDouble(msg, f, x);
                else if (add) r->AddDouble(msg, f, x);
                else r->SetRepeatedDouble(msg, f, idx, x);
            }
            break;
        }
        case F::CPPTYPE_BOOL:
            if (!f->is_repeated()) r->SetBool(msg, f, v & 1);
            break;
        case F::CPPTYPE_ENUM: {
            const pb::EnumValueDescriptor* e = f->enum_type()->value(v % f->enum_type()->value_count());
            if (!f->is_repeated()) r->SetEnum(msg, f, e);
            else if (add) r->AddEnum(msg, f, e);
            else r->SetRepeatedEnum(msg, f, idx, e);
            break;
        }
        case F::CPPTYPE_STRING: {
            const std::string x = trouble_string(v, strings);
            if (!f->is_repeated()) r->SetString(msg, f, x);
            else if (add) r->AddString(msg, f, x);
            else r->SetRepeatedString(msg, f, idx, x);
            break;
        }
        case F::CPPTYPE_MESSAGE:
            if (!f->is_repeated()) (void)r->MutableMessage(msg, f);
            else if (!add) (void)r->MutableRepeatedMessage(msg, f, idx);
            else if (size > 0 && size < 4096) {
                const int from = v % size;
                pb::Message* copy = r->AddMessage(msg, f);
                copy->CopyFrom(r->GetRepeatedMessage(*msg, f, from));
            } else if (size < 4096)
                (void)r->AddMessage(msg, f);
            break;
        }
        break;
    }
    case 2:
        if (!f->is_repeated()) r->ClearField(msg, f);
        else if (size > 0) r->RemoveLast(msg, f);
        break;
    case 3:
        if (f->is_repeated() && size > 1) r->SwapElements(msg, f, v % size, (v / size + 1 + v % size) % size);
        break;
    case 4:
        if (f->type() == F::TYPE_STRING && !strings.empty()) {
            const std::string& x = strings[v % strings.size()];
            if (!f->is_repeated()) r->SetString(msg, f, x);
            else if (size > 0) r->SetRepeatedString(msg, f, v % size, x);
            else r->AddString(msg, f, x);
        }
        break;
    case 5:
        if (f->cpp_type() == F::CPPTYPE_STRING && !f->is_repeated()) {
            std::string x = r->GetString(*msg, f);
            const std::int64_t len = trouble_int(v);
            x.resize(static_cast<std::size_t>(len >= 0 && len <= 65536 ? len : x.size() / 2), '\x7f');
            r->SetString(msg, f, x);
        }
        break;
    }
}

// The model an input describes, serialized (empty if the seed byte is missing).
inline std::string edited_onnx(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return {};
    const auto& seeds = onnx_seeds();
    onnx::ModelProto m;
    if (!m.ParseFromString(seeds[data[0] % seeds.size()])) std::abort();
    for (std::size_t i = 1; i + 4 <= size && i < 1 + 4 * 24; i += 4)
        apply_edit(m, data[i], static_cast<std::uint16_t>(data[i + 1] << 8 | data[i + 2]), data[i + 3]);
    std::string out;
    if (!m.SerializeToString(&out)) std::abort();
    return out;
}

}  // namespace flashmc::fuzz

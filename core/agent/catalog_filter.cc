// See catalog_filter.h.
#include "core/agent/catalog_filter.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/strings.h"
#include "re2/re2.h"

namespace muster::agent {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kErrorPrefix = "Failed to create boolean expression evaluator: ";
// RE2's memory budget for one `matches` pattern (its default is 8 MiB; a filter needs little).
constexpr int64_t kRegexMemoryBytesMax = int64_t{1} << 20;

// ---- What each endpoint's rows hold (Consul's selectors for it), as its JSON names them.

enum class Kind : uint8_t {
  kString,
  kInt,
  kBool,
  kStringList,
  kStringMap,   // map[string]string: the next segment is a key
  kStruct,      // the next segment is one of `children`
  kStructList,  // a list of `children` structs: a selector through it matches any element
  kStructMap,   // map[string]struct: the next segment is a key, then one of `children`
};

struct Field {
  std::string_view name;
  Kind kind;
  std::span<const Field> children = {};
};

constexpr Field kWeightsFields[] = {{"Passing", Kind::kInt}, {"Warning", Kind::kInt}};
constexpr Field kServiceAddressFields[] = {{"Address", Kind::kString}, {"Port", Kind::kInt}};

constexpr Field kNodeFields[] = {
    {"ID", Kind::kString},         {"Node", Kind::kString},
    {"Address", Kind::kString},    {"Datacenter", Kind::kString},
    {"TaggedAddresses", Kind::kStringMap}, {"Meta", Kind::kStringMap},
};

constexpr Field kServiceNodeFields[] = {
    {"ID", Kind::kString},
    {"Node", Kind::kString},
    {"Address", Kind::kString},
    {"Datacenter", Kind::kString},
    {"TaggedAddresses", Kind::kStringMap},
    {"NodeMeta", Kind::kStringMap},
    {"ServiceKind", Kind::kString},
    {"ServiceID", Kind::kString},
    {"ServiceName", Kind::kString},
    {"ServiceTags", Kind::kStringList},
    {"ServiceAddress", Kind::kString},
    {"ServiceTaggedAddresses", Kind::kStructMap, kServiceAddressFields},
    {"ServiceWeights", Kind::kStruct, kWeightsFields},
    {"ServiceMeta", Kind::kStringMap},
    {"ServicePort", Kind::kInt},
    {"ServiceEnableTagOverride", Kind::kBool},
};

constexpr Field kNodeServiceFields[] = {
    {"Kind", Kind::kString},
    {"ID", Kind::kString},
    {"Service", Kind::kString},
    {"Tags", Kind::kStringList},
    {"Address", Kind::kString},
    {"TaggedAddresses", Kind::kStructMap, kServiceAddressFields},
    {"Meta", Kind::kStringMap},
    {"Port", Kind::kInt},
    {"Weights", Kind::kStruct, kWeightsFields},
    {"EnableTagOverride", Kind::kBool},
};

constexpr Field kHealthCheckFields[] = {
    {"Node", Kind::kString},        {"CheckID", Kind::kString},   {"Name", Kind::kString},
    {"Status", Kind::kString},      {"Notes", Kind::kString},     {"Output", Kind::kString},
    {"ServiceID", Kind::kString},   {"ServiceName", Kind::kString},
    {"ServiceTags", Kind::kStringList}, {"Type", Kind::kString},
};

constexpr Field kCheckServiceNodeFields[] = {
    {"Node", Kind::kStruct, kNodeFields},
    {"Service", Kind::kStruct, kNodeServiceFields},
    {"Checks", Kind::kStructList, kHealthCheckFields},
};

std::span<const Field> FieldsOf(FilterSubject subject) {
  switch (subject) {
    case FilterSubject::kNode: return kNodeFields;
    case FilterSubject::kServiceNode: return kServiceNodeFields;
    case FilterSubject::kNodeService: return kNodeServiceFields;
    case FilterSubject::kHealthCheck: return kHealthCheckFields;
    case FilterSubject::kCheckServiceNode: return kCheckServiceNodeFields;
  }
  return {};
}

// ---- Tokens

enum class TokenKind : uint8_t { kEnd, kLParen, kRParen, kEqual, kNotEqual, kQuoted, kWord };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  size_t offset = 0;                  // where it starts in the filter
  std::string text;                   // a word as written; a quoted value unquoted
  std::vector<std::string> segments;  // a word as a selector: its dotted and ["key"] parts
};

// The length of the UTF-8 character (RFC 3629) that starts at text[i], 0 when none does.
size_t Utf8CharLength(std::string_view text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  const unsigned char second = static_cast<unsigned char>(text[i + 1]);
  if (second < second_min || second > second_max) return 0;
  for (size_t k = 2; k < length; ++k) {
    const unsigned char next = static_cast<unsigned char>(text[i + k]);
    if (next < 0x80 || next > 0xBF) return 0;
  }
  return length;
}

// An error message is UTF-8 whatever the filter was: a forwarded answer carries it in a proto3
// string, which a message that is not UTF-8 cannot be (the follower would drop the answer).
// Bytes that are no character are written as \xNN.
std::string Utf8Message(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8CharLength(text, i);
    if (length == 0) {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(text[i]), absl::kZeroPad2));
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

bool IsWordByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == ':' ||
         c == '/' || c == '+' || c == '@';
}

}  // namespace

// ---- The parsed tree

enum class MatchOp : uint8_t { kEqual, kIsEmpty, kIn, kMatches };  // kIn: `in` and `contains`

struct CatalogFilter::Expr {
  enum class Type : uint8_t { kAnd, kOr, kNot, kMatch };
  Type type = Type::kMatch;
  std::vector<Expr> children;  // kAnd, kOr (two or more), kNot (one)

  // kMatch: the selector resolved against the subject's fields, one step per segment.
  struct Step {
    std::string name;
    bool map_key = false;  // a key of a map (exact), else a struct field (by JSON name)
    Kind kind = Kind::kString;  // what the step reaches
  };
  std::vector<Step> steps;
  MatchOp op = MatchOp::kEqual;
  bool negated = false;  // !=, is not empty, not in, not contains, not matches
  std::string value;
  int64_t int_value = 0;
  bool bool_value = false;
  std::shared_ptr<const re2::RE2> regex;
};

namespace {

using Expr = CatalogFilter::Expr;

class Parser {
 public:
  Parser(std::string_view text, FilterSubject subject) : text_(text), fields_(FieldsOf(subject)) {}

  absl::StatusOr<Expr> Run() {
    if (absl::Status s = Lex(); !s.ok()) return s;
    absl::StatusOr<Expr> e = ParseOr(0);
    if (!e.ok()) return e;
    if (Peek().kind != TokenKind::kEnd) return Error(Peek(), "unexpected text after the expression");
    return e;
  }

 private:
  absl::Status Error(size_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(Absl(kErrorPrefix), "1:", offset + 1, " (", offset, "): ", Absl(what)));
  }
  absl::Status Error(const Token& at, std::string_view what) const { return Error(at.offset, what); }

  // Go's double-quoted escapes that a filter can need; anything else is refused.
  absl::Status LexQuoted(size_t& i, Token& token) {
    const char quote = text_[i++];
    while (true) {
      if (i >= text_.size()) return Error(token.offset, "unterminated string");
      const char c = text_[i++];
      if (c == quote) return absl::OkStatus();
      if (c != '\\' || quote == '`') {
        token.text.push_back(c);
        continue;
      }
      if (i >= text_.size()) return Error(token.offset, "unterminated string");
      const char e = text_[i++];
      switch (e) {
        case '"': case '\\': case '\'': token.text.push_back(e); break;
        case 'n': token.text.push_back('\n'); break;
        case 't': token.text.push_back('\t'); break;
        case 'r': token.text.push_back('\r'); break;
        default: return Error(i - 2, "invalid escape in a string");
      }
    }
  }

  absl::Status Lex() {
    size_t i = 0;
    while (true) {
      while (i < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[i]))) ++i;
      Token token;
      token.offset = i;
      if (i >= text_.size()) {
        tokens_.push_back(std::move(token));
        return absl::OkStatus();
      }
      const char c = text_[i];
      if (c == '(' || c == ')') {
        token.kind = c == '(' ? TokenKind::kLParen : TokenKind::kRParen;
        ++i;
      } else if ((c == '=' || c == '!') && i + 1 < text_.size() && text_[i + 1] == '=') {
        token.kind = c == '=' ? TokenKind::kEqual : TokenKind::kNotEqual;
        i += 2;
      } else if (c == '"' || c == '`') {
        token.kind = TokenKind::kQuoted;
        if (absl::Status s = LexQuoted(i, token); !s.ok()) return s;
      } else if (IsWordByte(c)) {
        token.kind = TokenKind::kWord;
        std::string segment;
        while (i < text_.size()) {
          if (IsWordByte(text_[i])) {
            if (text_[i] == '.') {
              token.segments.push_back(std::exchange(segment, ""));
            } else {
              segment.push_back(text_[i]);
            }
            token.text.push_back(text_[i++]);
          } else if (text_[i] == '[' && i + 1 < text_.size() && text_[i + 1] == '"') {
            // Consul's map-key form: Meta["key with spaces"].
            token.segments.push_back(std::exchange(segment, ""));
            const size_t open = i;
            ++i;
            Token key;
            key.offset = open;
            if (absl::Status s = LexQuoted(i, key); !s.ok()) return s;
            if (i >= text_.size() || text_[i] != ']') return Error(open, "expected ] after a map key");
            ++i;
            segment = key.text;
            token.text.append(text_.substr(open, i - open));
          } else {
            break;
          }
        }
        token.segments.push_back(std::move(segment));
      } else {
        // The whole character, not its first byte (Utf8Message writes a stray byte as \xNN).
        const size_t length = std::max<size_t>(Utf8CharLength(text_, i), 1);
        return Error(i, absl::StrCat("unexpected character '", Absl(text_.substr(i, length)), "'"));
      }
      tokens_.push_back(std::move(token));
    }
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(next_ + ahead, tokens_.size() - 1)];
  }
  const Token& Take() {
    const Token& t = Peek();
    if (next_ < tokens_.size() - 1) ++next_;
    return t;
  }
  bool IsKeyword(const Token& t, std::string_view word) const { return t.kind == TokenKind::kWord && t.text == word; }
  static bool IsAnyKeyword(const Token& t) {
    if (t.kind != TokenKind::kWord) return false;
    for (std::string_view k : {"and", "or", "not", "in", "contains", "is", "empty", "matches"}) {
      if (t.text == k) return true;
    }
    return false;
  }

  absl::StatusOr<Expr> ParseOr(int depth) {
    absl::StatusOr<Expr> first = ParseAnd(depth);
    if (!first.ok() || !IsKeyword(Peek(), "or")) return first;
    Expr e;
    e.type = Expr::Type::kOr;
    e.children.push_back(std::move(*first));
    while (IsKeyword(Peek(), "or")) {
      Take();
      absl::StatusOr<Expr> next = ParseAnd(depth);
      if (!next.ok()) return next;
      e.children.push_back(std::move(*next));
    }
    return e;
  }

  absl::StatusOr<Expr> ParseAnd(int depth) {
    absl::StatusOr<Expr> first = ParseUnary(depth);
    if (!first.ok() || !IsKeyword(Peek(), "and")) return first;
    Expr e;
    e.type = Expr::Type::kAnd;
    e.children.push_back(std::move(*first));
    while (IsKeyword(Peek(), "and")) {
      Take();
      absl::StatusOr<Expr> next = ParseUnary(depth);
      if (!next.ok()) return next;
      e.children.push_back(std::move(*next));
    }
    return e;
  }

  absl::StatusOr<Expr> ParseUnary(int depth) {
    if (depth >= kFilterDepthMax) return Error(Peek(), absl::StrCat("nested deeper than ", kFilterDepthMax));
    if (IsKeyword(Peek(), "not")) {
      Take();
      absl::StatusOr<Expr> inner = ParseUnary(depth + 1);
      if (!inner.ok()) return inner;
      Expr e;
      e.type = Expr::Type::kNot;
      e.children.push_back(std::move(*inner));
      return e;
    }
    if (Peek().kind == TokenKind::kLParen) {
      Take();
      absl::StatusOr<Expr> inner = ParseOr(depth + 1);
      if (!inner.ok()) return inner;
      if (Peek().kind != TokenKind::kRParen) return Error(Peek(), "expected )");
      Take();
      return inner;
    }
    return ParseMatch();
  }

  // A value: quoted, or a bare word that is not a keyword.
  absl::StatusOr<std::string> ParseValue() {
    const Token& t = Peek();
    if (t.kind == TokenKind::kQuoted || (t.kind == TokenKind::kWord && !IsAnyKeyword(t))) return Take().text;
    return Error(t, "expected a value");
  }

  absl::StatusOr<Expr> ParseMatch() {
    if (++terms_ > kFilterTermsMax) return Error(Peek(), absl::StrCat("more than ", kFilterTermsMax, " matches"));
    const Token first = Peek();
    if (first.kind != TokenKind::kQuoted && (first.kind != TokenKind::kWord || IsAnyKeyword(first))) {
      return Error(first, "expected a selector or a value");
    }
    Take();
    Expr e;
    const Token* selector = &first;
    Token value_selector;  // for `Value [not] in Selector`
    const Token& op = Peek();
    if (first.kind == TokenKind::kQuoted || IsKeyword(op, "in") ||
        (IsKeyword(op, "not") && IsKeyword(Peek(1), "in"))) {
      // Value [not] in Selector
      if (IsKeyword(Peek(), "not")) {
        Take();
        e.negated = true;
      }
      if (!IsKeyword(Peek(), "in")) return Error(Peek(), "expected in");
      Take();
      value_selector = Peek();
      if (value_selector.kind != TokenKind::kWord || IsAnyKeyword(value_selector)) {
        return Error(value_selector, "expected a selector");
      }
      Take();
      e.op = MatchOp::kIn;
      e.value = first.text;
      selector = &value_selector;
    } else if (op.kind == TokenKind::kEqual || op.kind == TokenKind::kNotEqual) {
      e.negated = op.kind == TokenKind::kNotEqual;
      Take();
      absl::StatusOr<std::string> v = ParseValue();
      if (!v.ok()) return v.status();
      e.op = MatchOp::kEqual;
      e.value = std::move(*v);
    } else if (IsKeyword(op, "is")) {
      Take();
      if (IsKeyword(Peek(), "not")) {
        Take();
        e.negated = true;
      }
      if (!IsKeyword(Peek(), "empty")) return Error(Peek(), "expected empty");
      Take();
      e.op = MatchOp::kIsEmpty;
    } else {
      if (IsKeyword(op, "not")) {
        Take();
        e.negated = true;
      }
      if (IsKeyword(Peek(), "contains")) {
        e.op = MatchOp::kIn;
      } else if (IsKeyword(Peek(), "matches")) {
        e.op = MatchOp::kMatches;
      } else {
        return Error(Peek(), "expected a match operator (==, !=, is empty, in, contains, matches)");
      }
      Take();
      absl::StatusOr<std::string> v = ParseValue();
      if (!v.ok()) return v.status();
      e.value = std::move(*v);
    }
    if (absl::Status s = Resolve(*selector, e); !s.ok()) return s;
    return e;
  }

  std::string_view OpName(const Expr& e) const {
    switch (e.op) {
      case MatchOp::kEqual: return e.negated ? "!=" : "==";
      case MatchOp::kIsEmpty: return e.negated ? "is not empty" : "is empty";
      case MatchOp::kIn: return e.negated ? "not in / not contains" : "in / contains";
      case MatchOp::kMatches: return e.negated ? "not matches" : "matches";
    }
    return "";
  }

  // The selector's steps through the subject's fields, and the operator and value checked
  // against the type it reaches.
  absl::Status Resolve(const Token& selector, Expr& e) {
    if (selector.kind != TokenKind::kWord) return Error(selector, "expected a selector");
    auto invalid = [&] {
      return absl::InvalidArgumentError(absl::StrCat(Absl(kErrorPrefix), "Selector \"", selector.text, "\" is not valid"));
    };
    std::span<const Field> fields = fields_;
    Kind kind = Kind::kStruct;
    for (const std::string& segment : selector.segments) {
      Expr::Step step;
      step.name = segment;
      switch (kind) {
        case Kind::kStruct:
        case Kind::kStructList: {
          const Field* found = nullptr;
          for (const Field& f : fields) {
            if (f.name == segment) found = &f;
          }
          if (found == nullptr) return invalid();
          step.kind = found->kind;
          fields = found->children;
          break;
        }
        case Kind::kStringMap:
          if (segment.empty()) return invalid();
          step.map_key = true;
          step.kind = Kind::kString;
          break;
        case Kind::kStructMap:
          if (segment.empty()) return invalid();
          step.map_key = true;
          step.kind = Kind::kStruct;
          break;
        default:
          return invalid();
      }
      kind = step.kind;
      e.steps.push_back(std::move(step));
    }
    if (e.steps.empty() || kind == Kind::kStruct) return invalid();
    auto refuse = [&] {
      return absl::InvalidArgumentError(absl::StrCat(Absl(kErrorPrefix), "Invalid match operator \"", Absl(OpName(e)),
                                                     "\" for selector \"", selector.text, "\""));
    };
    switch (kind) {
      case Kind::kString:
        break;
      case Kind::kInt:
        if (e.op != MatchOp::kEqual) return refuse();
        if (!absl::SimpleAtoi(e.value, &e.int_value)) {
          return absl::InvalidArgumentError(absl::StrCat(Absl(kErrorPrefix), "Failed to coerce value \"", e.value,
                                                         "\" to an integer for selector \"", selector.text, "\""));
        }
        break;
      case Kind::kBool:
        if (e.op != MatchOp::kEqual) return refuse();
        // Go's strconv.ParseBool, which go-bexpr coerces with.
        if (e.value == "1" || e.value == "t" || e.value == "T" || e.value == "true" || e.value == "TRUE" ||
            e.value == "True") {
          e.bool_value = true;
        } else if (e.value == "0" || e.value == "f" || e.value == "F" || e.value == "false" || e.value == "FALSE" ||
                   e.value == "False") {
          e.bool_value = false;
        } else {
          return absl::InvalidArgumentError(absl::StrCat(Absl(kErrorPrefix), "Failed to coerce value \"", e.value,
                                                         "\" to a bool for selector \"", selector.text, "\""));
        }
        break;
      case Kind::kStringList:
      case Kind::kStringMap:
      case Kind::kStructMap:
        if (e.op != MatchOp::kIsEmpty && e.op != MatchOp::kIn) return refuse();
        break;
      case Kind::kStructList:
        if (e.op != MatchOp::kIsEmpty) return refuse();
        break;
      case Kind::kStruct:
        return invalid();
    }
    if (e.op == MatchOp::kMatches) {
      re2::RE2::Options options;
      options.set_log_errors(false);
      options.set_max_mem(kRegexMemoryBytesMax);
      auto regex = std::make_shared<const re2::RE2>(re2::StringPiece(e.value.data(), e.value.size()), options);
      if (!regex->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Absl(kErrorPrefix), "invalid regular expression \"", e.value, "\": ", regex->error()));
      }
      e.regex = std::move(regex);
    }
    return absl::OkStatus();
  }

  std::string_view text_;
  std::span<const Field> fields_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
  size_t terms_ = 0;
};

// ---- Matching

// A struct field the row's JSON leaves out is Go's zero value of its type.
const Json& ZeroOf(Kind kind) {
  static const Json* const zeros = new Json[5]{Json(""), Json(0), Json(false), Json::array(), Json::object()};
  switch (kind) {
    case Kind::kString: return zeros[0];
    case Kind::kInt: return zeros[1];
    case Kind::kBool: return zeros[2];
    case Kind::kStringList:
    case Kind::kStructList: return zeros[3];
    default: return zeros[4];
  }
}

const Json* FieldOf(const Json& object, const std::string& name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  if (it != object.end()) return &*it;
  // Tagged addresses keep Consul's lowercase "address" / "port" (W5).
  for (auto f = object.begin(); f != object.end(); ++f) {
    if (absl::EqualsIgnoreCase(f.key(), name)) return &f.value();
  }
  return nullptr;
}

std::string_view StringOf(const Json& v, std::string& scratch) {
  if (v.is_string()) return v.get_ref<const std::string&>();
  scratch = v.dump();
  return scratch;
}

// The match at the selector's end; `v` null: a map key that is not there.
bool MatchLeaf(const Expr& e, const Json* v) {
  if (v == nullptr) return e.op == MatchOp::kEqual ? e.negated : e.op == MatchOp::kIsEmpty ? !e.negated : e.negated;
  bool matched = false;
  std::string scratch;
  switch (e.op) {
    case MatchOp::kEqual:
      if (v->is_boolean()) {
        matched = v->get<bool>() == e.bool_value;
      } else if (v->is_number_integer()) {
        matched = v->is_number_unsigned() ? (e.int_value >= 0 && v->get<uint64_t>() == static_cast<uint64_t>(e.int_value))
                                          : v->get<int64_t>() == e.int_value;
      } else {
        matched = StringOf(*v, scratch) == e.value;
      }
      break;
    case MatchOp::kIsEmpty:
      matched = v->is_string() ? v->get_ref<const std::string&>().empty()
                               : (v->is_array() || v->is_object()) ? v->empty() : v->is_null();
      break;
    case MatchOp::kIn:
      if (v->is_string()) {
        matched = absl::StrContains(v->get_ref<const std::string&>(), e.value);
      } else if (v->is_array()) {
        for (const Json& element : *v) matched = matched || (element.is_string() && element.get_ref<const std::string&>() == e.value);
      } else if (v->is_object()) {
        matched = v->contains(e.value);
      }
      break;
    case MatchOp::kMatches: {
      const std::string_view s = StringOf(*v, scratch);
      matched = re2::RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *e.regex);
      break;
    }
  }
  return matched != e.negated;
}

bool MatchFrom(const Expr& e, const Json* v, size_t step) {
  if (step == e.steps.size() || v == nullptr) return MatchLeaf(e, v);
  const Expr::Step& s = e.steps[step];
  const Json* child = nullptr;
  if (s.map_key) {
    if (v->is_object()) {
      auto it = v->find(s.name);
      if (it != v->end()) child = &*it;
    }
  } else {
    child = FieldOf(*v, s.name);
    if (child == nullptr || child->is_null()) child = &ZeroOf(s.kind);
  }
  if (child != nullptr && s.kind == Kind::kStructList && step + 1 < e.steps.size()) {
    // Through a list: any element (go-bexpr's).
    if (!child->is_array()) return false;
    for (const Json& element : *child) {
      if (MatchFrom(e, &element, step + 1)) return true;
    }
    return false;
  }
  return MatchFrom(e, child, step + 1);
}

bool Evaluate(const Expr& e, const Json& row) {
  switch (e.type) {
    case Expr::Type::kAnd:
      for (const Expr& c : e.children) {
        if (!Evaluate(c, row)) return false;
      }
      return true;
    case Expr::Type::kOr:
      for (const Expr& c : e.children) {
        if (Evaluate(c, row)) return true;
      }
      return false;
    case Expr::Type::kNot:
      return !Evaluate(e.children.front(), row);
    case Expr::Type::kMatch:
      return MatchFrom(e, &row, 0);
  }
  return false;
}

}  // namespace

CatalogFilter::CatalogFilter() = default;
CatalogFilter::~CatalogFilter() = default;
CatalogFilter::CatalogFilter(const CatalogFilter&) = default;
CatalogFilter& CatalogFilter::operator=(const CatalogFilter&) = default;

absl::StatusOr<CatalogFilter> CatalogFilter::Parse(std::string_view text, FilterSubject subject) {
  CatalogFilter filter;
  if (text.size() > kFilterBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(Absl(kErrorPrefix), "the filter is longer than ", kFilterBytesMax, " bytes"));
  }
  if (absl::StripAsciiWhitespace(Absl(text)).empty()) return filter;
  absl::StatusOr<Expr> root = Parser(text, subject).Run();
  if (!root.ok()) return absl::InvalidArgumentError(Utf8Message(Std(root.status().message())));
  filter.root_ = std::make_shared<const Expr>(std::move(*root));
  return filter;
}

bool CatalogFilter::Matches(const nlohmann::ordered_json& row) const {
  return root_ == nullptr || Evaluate(*root_, row);
}

bool CatalogFilter::empty() const { return root_ == nullptr; }

}  // namespace muster::agent

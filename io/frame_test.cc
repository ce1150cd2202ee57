#include "io/frame.h"

#include "gtest/gtest.h"

namespace muster::io {
namespace {

TEST(FrameTest, DatagramRoundTrip) {
  std::string bytes = EncodeDatagram("127.0.0.2:8301", std::string("\0ping", 5));
  auto frame = DecodeBody(bytes);
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->from, "127.0.0.2:8301");
  EXPECT_EQ(frame->payload, std::string("\0ping", 5));
}

TEST(FrameTest, MalformedDatagramsAreRejected) {
  EXPECT_FALSE(DecodeBody("").has_value());
  EXPECT_FALSE(DecodeBody(std::string("\x00", 1)).has_value());
  EXPECT_FALSE(DecodeBody(std::string("\x00\x00", 2)).has_value()) << "empty sender";
  EXPECT_FALSE(DecodeBody(std::string("\x00\x09short", 7)).has_value()) << "sender longer than frame";
}

TEST(FrameTest, StreamReaderReassemblesAcrossArbitrarySplits) {
  std::string stream;
  for (int i = 0; i < 100; ++i) stream += EncodeStreamFrame("n1", std::string(i * 37, 'x') + std::to_string(i));
  for (size_t chunk : {1u, 3u, 7u, 64u, 4096u}) {
    StreamFrameReader reader;
    int seen = 0;
    for (size_t off = 0; off < stream.size(); off += chunk) {
      reader.Append(stream.data() + off, std::min(chunk, stream.size() - off));
      while (auto f = reader.Next()) {
        EXPECT_EQ(f->from, "n1");
        EXPECT_EQ(f->payload, std::string(seen * 37, 'x') + std::to_string(seen));
        ++seen;
      }
    }
    EXPECT_EQ(seen, 100) << "chunk " << chunk;
    EXPECT_FALSE(reader.error());
    EXPECT_EQ(reader.buffered_bytes(), 0u);
  }
}

TEST(FrameTest, OversizedFrameIsAnErrorNotAnAllocation) {
  StreamFrameReader reader;
  const char huge[] = {'\x7f', '\xff', '\xff', '\xff'};
  reader.Append(huge, 4);
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_TRUE(reader.error());
}

}  // namespace
}  // namespace muster::io

// Raft messages are bytes from the network until authenticated: an append that no correct
// leader sends (found by tests/fuzz) must be dropped, never trip the log's invariant checks.
#include <string>

#include "core/raft/raft.h"
#include "tests/raft/test_cluster.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

class HostileAppendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RaftOptions o;
    o.id = NodeId{1};
    o.address = "n1";
    raft_ = std::make_unique<Raft>(o, nullptr, 1, now_, Logger(nullptr, "raft"));
    Ready r;
    ASSERT_TRUE(raft_->Bootstrap(now_, VotersConfiguration(3), &r).ok());
    // A real leader in term 2 replicates two entries, committed.
    pb::Message m = Append(2, 1, 1, {{2, 2}, {3, 2}});
    m.set_commit(3);
    Deliver(m);
    ASSERT_EQ(raft_->log().last_index(), 3u);
    ASSERT_EQ(raft_->commit(), 3u);
  }

  static pb::Message Append(uint64_t term, uint64_t index, uint64_t log_term,
                            std::vector<std::pair<uint64_t, uint64_t>> entries) {
    pb::Message m;
    m.set_type(pb::MSG_APP);
    m.set_from(2);
    m.set_from_address("n2");
    m.set_to(1);
    m.set_term(term);
    m.set_index(index);
    m.set_log_term(log_term);
    for (auto [i, t] : entries) {
      pb::Entry* e = m.add_entries();
      e->set_index(i);
      e->set_term(t);
      e->set_data("x=1");
    }
    return m;
  }

  Ready Deliver(const pb::Message& m) {
    now_ += absl::Milliseconds(1);
    Ready r;
    raft_->Receive(now_, m.SerializeAsString(), &r).IgnoreError();
    return r;
  }

  void ExpectDroppedAndLogUnchanged(const pb::Message& m) {
    Ready r = Deliver(m);
    EXPECT_TRUE(r.effects.messages.empty()) << "a dropped append gets no answer: " << m.ShortDebugString();
    EXPECT_EQ(raft_->log().last_index(), 3u);
    EXPECT_EQ(raft_->commit(), 3u);
  }

  Time now_ = SimEpoch();
  std::unique_ptr<Raft> raft_;
};

TEST_F(HostileAppendTest, EntriesThatSkipAnIndexAreDropped) {
  ExpectDroppedAndLogUnchanged(Append(2, 3, 2, {{177, 2}}));  // the fuzzer's input, in short
  ExpectDroppedAndLogUnchanged(Append(2, 3, 2, {{4, 2}, {6, 2}}));
}

TEST_F(HostileAppendTest, EntriesWhoseTermsGoBackOrPassTheMessagesAreDropped) {
  ExpectDroppedAndLogUnchanged(Append(2, 3, 2, {{4, 1}}));
  ExpectDroppedAndLogUnchanged(Append(3, 3, 2, {{4, 3}, {5, 2}}));
  ExpectDroppedAndLogUnchanged(Append(3, 3, 2, {{4, 9}}));  // (term 3: the last case moved us to it)
}

TEST_F(HostileAppendTest, AnAppendThatWouldOverwriteACommittedEntryIsDropped) {
  ExpectDroppedAndLogUnchanged(Append(3, 1, 1, {{2, 3}}));
}

TEST_F(HostileAppendTest, AConfigurationEntryThatDoesNotParseIsDropped) {
  pb::Message m = Append(2, 3, 2, {{4, 2}});
  m.mutable_entries(0)->set_type(pb::ENTRY_CONFIG);
  m.mutable_entries(0)->set_data("\xff\xff\xff");
  ExpectDroppedAndLogUnchanged(m);
}

// One leader per term: once we follow n2 in term 2, "n3" claiming term 2 is forged or broken.
// Before, the follower switched to it (the fuzzer's 'leader changed within term 3').
TEST_F(HostileAppendTest, ASecondLeaderOfTheSameTermIsIgnored) {
  pb::Message m = Append(2, 3, 2, {{4, 2}});
  m.set_from(3);
  m.set_from_address("n3");
  ExpectDroppedAndLogUnchanged(m);
  EXPECT_EQ(raft_->leader(), NodeId{2});
}

TEST_F(HostileAppendTest, AValidAppendStillWorks) {
  Ready r = Deliver(Append(2, 3, 2, {{4, 2}, {5, 2}}));
  EXPECT_EQ(raft_->log().last_index(), 5u);
}

}  // namespace
}  // namespace muster::raft

namespace muster::raft {
namespace {

// A snapshot is the whole state: one whose data the host cannot load at the meta's index is
// dropped before it replaces the log (the fuzzer's forged snapshot aborted KvMachine with
// "snapshot data and meta disagree").
class HostileSnapshotTest : public ::testing::Test {
 protected:
  void Make(uint64_t bytes_max) {
    RaftOptions o;
    o.id = NodeId{1};
    o.address = "n1";
    o.snapshot_bytes_max = bytes_max;
    o.validate_snapshot = [](const pb::SnapshotMeta&, std::string_view data) {
      return data == "good" ? absl::OkStatus() : absl::InvalidArgumentError("bad");
    };
    raft_ = std::make_unique<Raft>(o, nullptr, 1, now_, Logger(nullptr, "raft"));
  }
  Ready Chunk(std::string data, uint64_t offset, bool last, uint64_t snapshot_term = 2) {
    pb::Message m;
    m.set_type(pb::MSG_SNAP);
    m.set_from(2);
    m.set_from_address("n2");
    m.set_to(1);
    m.set_term(2);
    m.mutable_snapshot()->set_index(50);
    m.mutable_snapshot()->set_term(snapshot_term);
    pb::Server* s = m.mutable_snapshot()->mutable_configuration()->add_servers();
    s->set_id(2);
    s->set_address("n2");
    s->set_voter(true);
    m.set_chunk_offset(offset);
    m.set_chunk(std::move(data));
    m.set_chunk_last(last);
    now_ += absl::Milliseconds(1);
    Ready r;
    raft_->Receive(now_, m.SerializeAsString(), &r).IgnoreError();
    return r;
  }
  Time now_ = SimEpoch();
  std::unique_ptr<Raft> raft_;
};

TEST_F(HostileSnapshotTest, ASnapshotTheHostRejectsIsNotInstalled) {
  Make(1 << 20);
  Ready r = Chunk("evil", 0, true);
  EXPECT_FALSE(r.restore.has_value());
  EXPECT_EQ(raft_->log().snapshot_index(), 0u);
  EXPECT_EQ(raft_->commit(), 0u);
  r = Chunk("good", 0, true);
  ASSERT_TRUE(r.restore.has_value());
  EXPECT_EQ(raft_->log().snapshot_index(), 50u);
}

TEST_F(HostileSnapshotTest, ASnapshotOfALaterTermThanItsMessageIsDropped) {
  Make(1 << 20);
  Ready r = Chunk("good", 0, true, /*snapshot_term=*/65);  // the fuzzer's: later than the message's term
  EXPECT_FALSE(r.restore.has_value());
  EXPECT_EQ(raft_->log().snapshot_index(), 0u);
  EXPECT_TRUE(raft_->CheckInvariants().ok()) << raft_->CheckInvariants();
}

TEST_F(HostileSnapshotTest, ChunksPastTheSizeLimitAreDropped) {
  Make(8);
  Chunk("12345", 0, false);
  Ready r = Chunk("6789", 5, true);  // 9 bytes > 8
  EXPECT_FALSE(r.restore.has_value());
  EXPECT_EQ(raft_->log().snapshot_index(), 0u);
}

}  // namespace
}  // namespace muster::raft

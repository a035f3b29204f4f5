// The offsets command line: its arguments are taken out before load_config, --to values parse
// to the right instant (the mock cluster cannot check timestamp lookups, so this does), and
// mistakes are refused with a message naming the argument.
#include "tools/offsets_arguments.h"

#include <gtest/gtest.h>

using starstream::daemon::ConfigError;
using starstream::daemon::tools::OffsetsAction;
using starstream::daemon::tools::OutputFormat;
using starstream::daemon::tools::parse_reset_target;
using starstream::daemon::tools::ResetTarget;
using starstream::daemon::tools::split_offsets_arguments;
using starstream::daemon::tools::SplitCommandLine;

namespace {

SplitCommandLine split(std::vector<std::string> args) {
    std::vector<const char*> argv{"starstreamd"};
    for (const auto& a : args) argv.push_back(a.c_str());
    return split_offsets_arguments(static_cast<int>(argv.size()), argv.data());
}

std::string refusal(std::vector<std::string> args) {
    try {
        split(std::move(args));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(no error)";
}

std::int64_t timestamp(const std::string& iso) { return parse_reset_target("timestamp=" + iso).value; }

}  // namespace

TEST(OffsetsArguments, OtherCommandsPassThroughUnchanged) {
    const auto s = split({"run", "--config", "offsets", "--to=x"});
    EXPECT_FALSE(s.offsets);
    EXPECT_EQ(s.rest, (std::vector<std::string>{"starstreamd", "run", "--config", "offsets", "--to=x"}));
}

TEST(OffsetsArguments, TakesItsArgumentsOutAndLeavesTheConfiguration) {
    const auto s = split({"--config", "f.conf", "offsets", "reset", "--to", "latest", "--topic=pv", "--partitions", "3,0,3",
                          "--dry-run", "--postgres.dsn", "dbname=x", "--format=json"});
    ASSERT_TRUE(s.offsets);
    EXPECT_EQ(s.offsets->action, OffsetsAction::reset);
    EXPECT_EQ(s.offsets->to.kind, ResetTarget::Kind::latest);
    EXPECT_EQ(s.offsets->topic, "pv");
    EXPECT_EQ(s.offsets->partitions, (std::vector<std::int32_t>{0, 3}));
    EXPECT_TRUE(s.offsets->dry_run);
    EXPECT_EQ(s.offsets->format, OutputFormat::json);
    EXPECT_EQ(s.rest, (std::vector<std::string>{"starstreamd", "--config", "f.conf", "offsets", "--postgres.dsn", "dbname=x"}));
}

TEST(OffsetsArguments, ShowNeedsNoTarget) {
    const auto s = split({"offsets", "show"});
    ASSERT_TRUE(s.offsets);
    EXPECT_EQ(s.offsets->action, OffsetsAction::show);
    EXPECT_EQ(s.offsets->format, OutputFormat::text);
    EXPECT_FALSE(s.offsets->topic);
}

TEST(OffsetsArguments, MistakesAreRefusedNamingTheArgument) {
    EXPECT_NE(refusal({"offsets"}).find("show or reset"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "rewind"}).find("'rewind'"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "reset"}).find("--to"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "show", "--to", "earliest"}).find("--to belongs to 'offsets reset'"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "reset", "--to", "first"}).find("'first'"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "reset", "--to", "offset=-4"}).find("0 or more"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "reset", "--to", "offset=12x"}).find("not an integer"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "show", "--partitions", "1,,2"}).find("--partitions"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "show", "--format", "yaml"}).find("--format"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "show", "--topic", "a", "--topic", "b"}).find("twice"), std::string::npos);
    EXPECT_NE(refusal({"offsets", "show", "--topic"}).find("needs a value"), std::string::npos);
}

TEST(OffsetsArguments, OffsetTarget) {
    const ResetTarget t = parse_reset_target("offset=123456");
    EXPECT_EQ(t.kind, ResetTarget::Kind::offset);
    EXPECT_EQ(t.value, 123456);
    EXPECT_EQ(t.text, "offset=123456");
}

TEST(OffsetsArguments, TimestampsAreInstantsInUnixMilliseconds) {
    EXPECT_EQ(timestamp("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(timestamp("2024-05-01T12:00:00Z"), 1714564800000);  // date -d 2024-05-01T12:00:00Z +%s
    EXPECT_EQ(timestamp("2024-05-01T14:00:00+02:00"), 1714564800000);
    EXPECT_EQ(timestamp("2024-05-01T07:30:00-0430"), 1714564800000);
    EXPECT_EQ(timestamp("2024-05-01 12:00Z"), 1714564800000);
    EXPECT_EQ(timestamp("2024-05-01T12:00:00.25Z"), 1714564800250);
    EXPECT_EQ(timestamp("2024-02-29T00:00:00z"), 1709164800000);
}

TEST(OffsetsArguments, FractionsBelowAMillisecondRoundUp) {
    // Records carry whole milliseconds: the first record at or after .1231 is at .124 or later.
    EXPECT_EQ(timestamp("2024-05-01T12:00:00.1231Z"), 1714564800124);
    EXPECT_EQ(timestamp("2024-05-01T12:00:00.123000Z"), 1714564800123);
}

TEST(OffsetsArguments, AmbiguousOrImpossibleTimesAreRefused) {
    EXPECT_THROW(parse_reset_target("timestamp=2024-05-01T12:00:00"), ConfigError);  // no zone
    EXPECT_THROW(parse_reset_target("timestamp=2023-02-29T00:00:00Z"), ConfigError);
    EXPECT_THROW(parse_reset_target("timestamp=2024-05-01T24:00:00Z"), ConfigError);
    EXPECT_THROW(parse_reset_target("timestamp=yesterday"), ConfigError);
}

#include "sink/postgres/binary_copy_writer.h"

#include <gtest/gtest.h>

using starstream::daemon::postgres::BinaryCopyWriter;

namespace {
std::string bytes(std::initializer_list<int> values) {
    std::string s;
    for (int v : values) s.push_back(static_cast<char>(v));
    return s;
}
const std::string kHeader = std::string("PGCOPY\n\377\r\n\0", 11) + bytes({0, 0, 0, 0, 0, 0, 0, 0});
}  // namespace

// Expected bytes follow the PostgreSQL manual, COPY, "Binary Format".
TEST(BinaryCopyWriter, HeaderAndTrailer) {
    BinaryCopyWriter w;
    EXPECT_EQ(std::string(w.finish()), kHeader + bytes({0xFF, 0xFF}));
}

TEST(BinaryCopyWriter, IntegersAreBigEndianWithLengths) {
    BinaryCopyWriter w;
    w.begin_row(3);
    w.int2(1);
    w.int4(-2);
    w.int8(0x0102030405060708);
    std::string expected = kHeader + bytes({0, 3}) + bytes({0, 0, 0, 2, 0, 1}) + bytes({0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFE}) +
                           bytes({0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}) + bytes({0xFF, 0xFF});
    EXPECT_EQ(std::string(w.finish()), expected);
    EXPECT_EQ(w.rows(), 1u);
}

TEST(BinaryCopyWriter, NullTextJsonbInetTimestamp) {
    BinaryCopyWriter w;
    w.begin_row(5);
    w.null();
    w.text("ab");
    w.jsonb("[]");
    const std::uint8_t ip[4] = {10, 0, 0, 1};
    w.inet(4, ip);
    w.timestamptz_us(946684800LL * 1000000 + 1);  // 2000-01-01 00:00:00.000001 UTC
    std::string expected = kHeader + bytes({0, 5}) + bytes({0xFF, 0xFF, 0xFF, 0xFF}) + bytes({0, 0, 0, 2}) + "ab" +
                           bytes({0, 0, 0, 3, 1}) + "[]" + bytes({0, 0, 0, 8, 2, 32, 0, 4, 10, 0, 0, 1}) +
                           bytes({0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1}) + bytes({0xFF, 0xFF});
    EXPECT_EQ(std::string(w.finish()), expected);
}

TEST(BinaryCopyWriter, ResetStartsANewStream) {
    BinaryCopyWriter w;
    w.begin_row(1);
    w.int4(1);
    w.reset();
    EXPECT_EQ(w.rows(), 0u);
    EXPECT_EQ(std::string(w.finish()), kHeader + bytes({0xFF, 0xFF}));
}

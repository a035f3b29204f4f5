#include "window/window_state_codec.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace starstream::engine {

namespace {

using nlohmann::json;

json encode_aggregates(const AggregateState& a) {
    json j = {{"count", a.count}, {"sum", a.sum}, {"distinct", a.distinct}};
    if (a.count) {  // min/max/first/last are only defined once something was added (no infinities in JSON)
        j["min"] = a.min;
        j["max"] = a.max;
        j["first"] = {a.first_time_us, a.first_value, a.first_label};
        j["last"] = {a.last_time_us, a.last_value, a.last_label};
    }
    return j;
}

AggregateState decode_aggregates(const json& j) {
    AggregateState a;
    a.count = j.at("count").get<std::uint64_t>();
    a.sum = j.at("sum").get<double>();
    a.distinct = j.at("distinct").get<std::set<std::string>>();
    if (a.count) {
        a.min = j.at("min").get<double>();
        a.max = j.at("max").get<double>();
        a.first_time_us = j.at("first").at(0).get<std::int64_t>();
        a.first_value = j.at("first").at(1).get<double>();
        a.last_time_us = j.at("last").at(0).get<std::int64_t>();
        a.last_value = j.at("last").at(1).get<double>();
        a.first_label = j.at("first").at(2).get<std::string>();
        a.last_label = j.at("last").at(2).get<std::string>();
    }
    return a;
}

}  // namespace

std::string encode_state(const WindowOperator::State& state) {
    json windows = json::array();
    for (const auto& [id, s] : state.windows)
        windows.push_back({{"key", id.first}, {"start", id.second.start_us}, {"end", id.second.end_us}, {"aggregates", encode_aggregates(s.aggregates)},
                           {"revision", s.revision}, {"final", s.is_final}, {"changed", s.changed}});
    json retractions = json::array();
    for (const auto& r : state.retractions)
        retractions.push_back({{"key", r.key}, {"start", r.window.start_us}, {"end", r.window.end_us}, {"aggregates", encode_aggregates(r.aggregates)},
                               {"revision", r.revision}, {"final", r.is_final}});
    return json{{"version", 1}, {"watermark", state.watermark_us}, {"windows", windows}, {"retractions", retractions},
                {"late", {state.late_dropped, state.late_dead_lettered, state.late_corrected, state.too_late}}}
        .dump();
}

WindowOperator::State decode_state(std::string_view bytes) {
    try {
        const json j = json::parse(bytes);
        if (j.at("version").get<int>() != 1) throw std::invalid_argument("unknown window state version");
        WindowOperator::State state;
        state.watermark_us = j.at("watermark").get<std::int64_t>();
        for (const auto& w : j.at("windows"))
            state.windows[{w.at("key").get<std::string>(), Window{w.at("start").get<std::int64_t>(), w.at("end").get<std::int64_t>()}}] = {
                decode_aggregates(w.at("aggregates")), w.at("revision").get<std::uint32_t>(), w.at("final").get<bool>(), w.at("changed").get<bool>()};
        for (const auto& r : j.at("retractions"))
            state.retractions.push_back({r.at("key").get<std::string>(), Window{r.at("start").get<std::int64_t>(), r.at("end").get<std::int64_t>()},
                                         decode_aggregates(r.at("aggregates")), r.at("final").get<bool>(), true, r.at("revision").get<std::uint32_t>()});
        const auto& late = j.at("late");
        state.late_dropped = late.at(0).get<std::uint64_t>();
        state.late_dead_lettered = late.at(1).get<std::uint64_t>();
        state.late_corrected = late.at(2).get<std::uint64_t>();
        state.too_late = late.at(3).get<std::uint64_t>();
        return state;
    } catch (const json::exception& e) {
        throw std::invalid_argument(std::string("malformed window state: ") + e.what());
    }
}

}  // namespace starstream::engine

#include "lifecycle/stream_runner.h"

#include "http/health_checks.h"
#include "sink/postgres/progress_store.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <thread>

namespace starstream::daemon {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

/// An event time in Unix microseconds as "YYYY-MM-DDTHH:MM:SSZ"; "none" for kNoWatermark.
std::string utc_text(std::int64_t time_us) {
    if (time_us == engine::kNoWatermark) return "none";
    const std::time_t t = static_cast<std::time_t>(time_us / 1000000);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace

StreamRunner::StreamRunner(const Config& config, PipelineState& state, metrics::PipelineProbe& probe, SystemdNotifier& systemd)
    : config_(config),
      state_(state),
      probe_(probe),
      systemd_(systemd),
      trigger_{config.trigger_interval, config.max_records, config.max_bytes},
      watermarks_({std::chrono::duration_cast<std::chrono::microseconds>(config.allowed_out_of_orderness).count(),
                   std::chrono::duration_cast<std::chrono::microseconds>(config.idle_timeout).count(), /*max_ahead_us=*/0}),
      // Alignment only serves the windowed tables: without them it would only slow the backlog down.
      alignment_(config.windows.enabled ? std::chrono::duration_cast<std::chrono::microseconds>(config.watermark_alignment_drift).count() : 0),
      checkpoints_(std::make_unique<postgres::ProgressStore>(pg_settings(config), config.instance_id, &stop_requested_)),
      bounds_{config.min_event_time_us, std::chrono::duration_cast<std::chrono::microseconds>(config.max_event_time_ahead).count()},
      enrichment_(config.enrichment),
      decoder_(config.max_event_bytes),
      builder_(enrichment_) {
    source_ = std::make_unique<engine::KafkaSource>(
        config.kafka, config.topics,
        config.starting_offsets == "latest" ? engine::StartingOffsets::latest : engine::StartingOffsets::earliest, *this);
    sink_ = std::make_unique<SinkWorker>(config, queue_, *source_, state_, probe_);
    new_batch();
}

StreamRunner::~StreamRunner() {
    // An exception left run(): leave the group while the members its callbacks use still exist.
    close_quietly();
    sink_->abandon();
    sink_->stop();
}

void StreamRunner::close_quietly() {
    closing_quietly_ = true;
    try {
        source_->close();
    } catch (const std::exception& e) {
        spdlog::warn("kafka consumer close: {}", e.what());
    }
}

void StreamRunner::check_sink() {
    if (auto failure = sink_->failure()) throw *failure;
}

bool StreamRunner::wait_for_source() {
    // Ask in short rounds, so that a refused authentication is reported within a second; at
    // most one round per second, whatever librdkafka answers.
    constexpr milliseconds kRound{1000};
    const auto deadline = Clock::now() + config_.startup_timeout;
    while (!stop_requested_) {
        const auto round_end = Clock::now() + kRound;
        if (source_->check_reachable(kRound)) {
            state_.kafka_security("");
            // Before any claim: instances starting together must not judge lateness by the
            // partitions one of them claimed first (the others' backlog would be late).
            checkpoints_->register_partitions(source_->topic_partitions());
            return true;
        }
        source_->serve_events(milliseconds(0));
        const std::string& failure = source_->security_failure();
        state_.kafka_security(failure);
        probe_.kafka_errors(source_->errors(), source_->security_failures());
        // Waiting here is the process working as meant: keep /livez and the watchdog fed.
        state_.consume_beat();
        state_.sink_beat();
        feed_watchdog();
        if (failure.empty() && Clock::now() >= deadline)
            throw std::runtime_error("no Kafka broker answered within source.startup_timeout_ms (" + std::to_string(config_.startup_timeout.count()) + " ms)");
        if (!failure.empty()) systemd_.notify("STATUS=waiting for Kafka: " + failure);
        std::this_thread::sleep_until(round_end);
    }
    return false;
}

void StreamRunner::new_batch() {
    batch_ = product_view::StarBatch{};
    builder_.reset();
    batch_started_ = Clock::now();
    decode_seconds_ = enrich_seconds_ = 0;
}

std::uint16_t StreamRunner::topic_index(std::string_view topic) {
    for (std::size_t i = 0; i < batch_.topics.size(); ++i)
        if (batch_.topics[i] == topic) return static_cast<std::uint16_t>(i);
    batch_.topics.emplace_back(topic);
    return static_cast<std::uint16_t>(batch_.topics.size() - 1);
}

void StreamRunner::add_record(const engine::SourceRecord& record) {
    engine::TopicPartition tp{std::string(record.topic()), record.partition()};
    auto epoch = epochs_.find(tp);
    if (epoch == epochs_.end()) return;  // fenced: a newer owner consumes this partition
    if (at_end_.erase(tp)) {
        watermarks_.set_caught_up(tp, false, now_us_);
        // With backlog again, it may be the slowest now: decide alignment again at this record.
        if (alignment_.enabled()) alignment_ceiling_us_ = engine::kNoWatermark;
    }
    ++consumed_;
    probe_.records_consumed(1);
    PartitionProgress& progress = progress_by_partition_[tp];
    progress.position = record.offset() + 1;
    progress.last_timestamp_ms = record.timestamp_ms();
    progress.delivered = true;
    const std::uint16_t topic = topic_index(record.topic());
    // Decode and enrich times are sampled on one record in kTimingSample and scaled up: reading
    // the clock around every record cost about 4 % of the poll thread (perf, bench/results.md).
    constexpr int kTimingSample = 16;
    const bool timed = consumed_ % kTimingSample == 0;
    const auto t0 = timed ? Clock::now() : Clock::time_point{};
    std::string reason = decoder_.decode(record.payload(), event_);
    if (reason.empty() && !bounds_.admits_seconds(event_.time_stamp, now_us_))
        reason = "event_time_out_of_range: time_stamp " + std::to_string(event_.time_stamp) +
                 " is before time.min_event_time or after now + time.max_event_time_ahead_ms (Unix seconds expected)";
    const auto t1 = timed ? Clock::now() : Clock::time_point{};
    if (timed) decode_seconds_ += kTimingSample * std::chrono::duration<double>(t1 - t0).count();
    if (reason.empty()) {
        probe_.records_decoded(1);
        // Past the ceiling, this partition may run too far ahead: hold it before its next record.
        if (watermarks_.observe(tp, event_.time_stamp * 1000000, now_us_) > alignment_ceiling_us_) align();
        builder_.add_event(batch_, event_, topic, record.partition(), record.offset());
        if (timed) enrich_seconds_ += kTimingSample * std::chrono::duration<double>(Clock::now() - t1).count();
    } else {
        ++dead_lettered_;
        probe_.dead_lettered(reason);
        batch_.dead_letters.push_back({topic, record.partition(), record.offset(), reason, std::string(record.payload()), record.timestamp_ms(), {}});
    }
    ++batch_.records;
    ++batch_.partition_records[tp];
    batch_.bytes += record.payload().size();
    batch_.checkpoint.consumed(tp, record.offset(), epoch->second);
}

bool StreamRunner::seal_and_hand_off(Clock::time_point wait_until, bool watermark_only) {
    if (batch_.empty() && !watermark_only && batch_.offset_gaps.empty()) return true;
    // The batch carries every owned partition's position and watermark (so that a quiet
    // partition's watermark moves on too, fenced like the rest).
    batch_.checkpoint.seal(
        epochs_, [&](const engine::TopicPartition& tp) { return progress_by_partition_[tp].position; },
        [&](const engine::TopicPartition& tp) { return watermarks_.committed_watermark(tp, now_us_); });
    const std::int64_t watermark_us = watermarks_.advance(now_us_);
    // Offer only to an idle sink: at most two batches exist (one committing, one filling),
    // which bounds memory; the next batch is ready by the time the sink finishes.
    const double poll_seconds = std::chrono::duration<double>(Clock::now() - batch_started_).count();
    const double decode_seconds = decode_seconds_, enrich_seconds = enrich_seconds_;
    while (!queue_.idle() || !queue_.try_offer(batch_)) {
        if (Clock::now() >= wait_until || sink_->failure()) return false;
        queue_.wait_idle(milliseconds(100));
    }
    probe_.phase("poll", poll_seconds);
    probe_.phase("decode", decode_seconds);
    probe_.phase("enrich", enrich_seconds);
    sealed_watermark_us_ = watermark_us;
    new_batch();
    return true;
}

bool StreamRunner::watermark_batch_due() {
    // A quiet topic still needs batches: the watermark moves on with processing time once every
    // partition is idle, and the windows it closes must be written.
    if (!config_.windows.enabled || !batch_.empty() || epochs_.empty() || Clock::now() - batch_started_ < config_.trigger_interval) return false;
    const std::int64_t watermark = watermarks_.advance(now_us_);
    return watermark != engine::kNoWatermark &&
           (sealed_watermark_us_ == engine::kNoWatermark || watermark - sealed_watermark_us_ >= config_.windows.watermark_batch_step_us);
}

void StreamRunner::recheck_caught_up() {
    // librdkafka reports a partition's end once per fetch position: one that stayed at its end
    // while no record was taken gets no new report. Its fetcher kept asking, so the high
    // watermark it cached is fresh: a partition still at it is caught up again.
    for (const auto& tp : at_end_) {
        const std::int64_t high = source_->watermarks(tp).second;
        if (high >= 0 && progress_by_partition_[tp].position >= high) watermarks_.set_caught_up(tp, true, now_us_);
    }
}

void StreamRunner::at_end(const engine::TopicPartition& tp, std::int64_t end_offset) {
    at_end_.insert(tp);
    watermarks_.set_caught_up(tp, true, now_us_);
    // A partition that never had a record takes its position from its end, so that it joins the
    // batches' checkpoints: its progress row would otherwise keep a NULL watermark, which holds
    // the topic's watermark back for good.
    if (PartitionProgress& p = progress_by_partition_[tp]; p.position < 0 && end_offset >= 0) p.position = end_offset;
}

void StreamRunner::align() {
    if (!alignment_.enabled()) return;
    const auto& held = source_->held_for_alignment();
    std::vector<engine::AlignedPartition> partitions;
    partitions.reserve(epochs_.size());
    for (const auto& [tp, epoch] : epochs_)
        // A quiet partition (no record for the idle timeout, e.g. its leader is offline) holds
        // nothing back: waiting for it would stall this instance's every other partition.
        partitions.push_back({tp, watermarks_.partition_watermark(tp), at_end_.count(tp) > 0, watermarks_.quiet(tp, now_us_),
                              progress_by_partition_[tp].delivered});
    const engine::AlignmentDecision decision = alignment_.decide(partitions);
    alignment_ceiling_us_ = decision.ceiling_us;
    if (decision.pause != held) {
        source_->hold_for_alignment(decision.pause);
    }
    report_alignment(decision);
}

void StreamRunner::report_alignment(const engine::AlignmentDecision& decision) {
    const std::size_t held = source_->held_for_alignment().size();
    probe_.watermark_alignment_paused(held);
    if (held == alignment_logged_ || Clock::now() < next_alignment_log_) return;
    if (held && decision.slowest) {
        spdlog::info("watermark alignment holds {} of {} partitions: their watermark runs more than time.watermark_alignment_drift_ms ({} ms) "
                     "ahead of the slowest, {} (watermark {})",
                     held, epochs_.size(), config_.watermark_alignment_drift.count(), decision.slowest->to_string(),
                     utc_text(decision.slowest_watermark_us));
    } else {
        spdlog::info("watermark alignment holds no partition now");
    }
    alignment_logged_ = held;
    next_alignment_log_ = Clock::now() + config_.progress_interval;
}

void StreamRunner::adopt(const std::map<engine::TopicPartition, engine::PartitionPosition>& positions) {
    for (const auto& [tp, position] : positions) {
        epochs_[tp] = position.epoch;
        progress_by_partition_[tp] = {position.next_offset, -1};
        at_end_.erase(tp);
        watermarks_.revoke(tp);
        watermarks_.assign(tp, position.watermark_us, now_us_);
        if (alignment_.enabled()) alignment_ceiling_us_ = engine::kNoWatermark;  // decide again at the next record
        spdlog::info("claimed {} at offset {} (epoch {}, instance {})", tp.to_string(),
                     position.next_offset >= 0 ? std::to_string(position.next_offset)
                     : position.next_offset == engine::kFromLogStart ? std::string("log start (new partition)")
                                                                     : "source.starting_offsets (" + config_.starting_offsets + ")",
                     position.epoch, config_.instance_id);
    }
}

void StreamRunner::forget(const engine::TopicPartition& tp) {
    epochs_.erase(tp);
    at_end_.erase(tp);
    progress_by_partition_.erase(tp);
    watermarks_.revoke(tp);
    probe_.forget(tp);
}

std::map<engine::TopicPartition, engine::PartitionPosition> StreamRunner::on_assigned(const std::vector<engine::TopicPartition>& partitions) {
    // Postgres may be briefly away; retry the claim rather than give the partitions up.
    auto backoff = config_.postgres_retry_initial;
    for (;;) {
        try {
            auto positions = checkpoints_->claim(partitions);
            adopt(positions);
            if (!ready_sent_) {
                // Migrated (before the runner existed) and assigned: ready for systemd.
                systemd_.notify("READY=1\nSTATUS=consuming " + std::to_string(positions.size()) + " partitions");
                ready_sent_ = true;
            }
            return positions;
        } catch (const engine::StoreError& e) {
            // Stopping: claim nothing. The partitions' records are ignored (no epoch) and the
            // group is left right after.
            if (stop_requested_) return {};
            if (!e.transient()) throw;
            spdlog::warn("cannot claim partitions yet, retrying in {} ms: {}", backoff.count(), e.what());
            for (auto until = Clock::now() + backoff; Clock::now() < until && !stop_requested_;) std::this_thread::sleep_for(milliseconds(50));
            backoff = std::min(backoff * 2, config_.postgres_retry_max);
        }
    }
}

void StreamRunner::on_revoked(const std::vector<engine::TopicPartition>& partitions) {
    // Everything consumed so far commits before the partitions move to another owner, within the
    // shutdown deadline: a sink that cannot commit must not hold the group's rebalance forever.
    // What is not committed by then is read again by the next owner (its claim fences us).
    if (!closing_quietly_) {
        const auto deadline = Clock::now() + config_.shutdown_timeout;
        bool handed_off = seal_and_hand_off(deadline);
        while (handed_off && !queue_.wait_idle(milliseconds(100)) && Clock::now() < deadline && !sink_->failure() && !stop_requested_) {
        }
        if (!handed_off || !queue_.idle())
            spdlog::warn("the sink did not commit within shutdown.timeout_ms while {} partitions are revoked; their uncommitted records are "
                         "left to the next owner",
                         partitions.size());
    }
    std::set<engine::TopicPartition> gone(partitions.begin(), partitions.end());
    product_view::drop_partitions(batch_, gone);
    for (const auto& tp : partitions) forget(tp);
    publish_partitions();
}

void StreamRunner::reposition() {
    std::map<engine::TopicPartition, std::int64_t> positions;
    for (const auto& [tp, epoch] : epochs_) {
        positions[tp] = progress_by_partition_[tp].position;
        progress_by_partition_[tp].delivered = false;  // alignment holds it only once it delivered from its new position
    }
    source_->reassign(positions);
}

void StreamRunner::follow_ownership(const std::map<engine::TopicPartition, std::int64_t>& lost) {
    std::vector<engine::TopicPartition> ours;  // lost with the epoch we still hold (not handled yet)
    for (const auto& [tp, epoch] : lost)
        if (auto it = epochs_.find(tp); it != epochs_.end() && it->second == epoch) ours.push_back(tp);
    if (ours.empty()) return;
    const auto owners = checkpoints_->owners(ours);
    std::vector<engine::TopicPartition> reclaim;
    for (const auto& tp : ours) {
        const auto owner = owners.find(tp);
        if (owner != owners.end() && owner->second.instance == config_.instance_id) {
            reclaim.push_back(tp);
            continue;
        }
        spdlog::warn("{} is owned by instance {} now (epoch {}); released until the group assigns it again", tp.to_string(),
                     owner == owners.end() ? "(none)" : owner->second.instance, owner == owners.end() ? 0 : owner->second.epoch);
        forget(tp);
    }
    // Records read under the old epoch would be fenced anyway: drop them now.
    product_view::drop_partitions(batch_, std::set<engine::TopicPartition>(ours.begin(), ours.end()));
    if (!reclaim.empty()) {
        spdlog::warn("{} partition(s) had their epoch moved while this instance still owns them (an operator's reset): claiming them again",
                     reclaim.size());
        adopt(checkpoints_->claim(reclaim));
    }
    reposition();
    publish_partitions();
}

void StreamRunner::check_ownership() {
    if (epochs_.empty()) return;
    std::vector<engine::TopicPartition> owned;
    for (const auto& [tp, epoch] : epochs_) owned.push_back(tp);
    std::map<engine::TopicPartition, std::int64_t> lost;
    for (const auto& [tp, owner] : checkpoints_->owners(owned))
        if (owner.epoch != epochs_.at(tp)) lost[tp] = epochs_.at(tp);
    follow_ownership(lost);
}

void StreamRunner::on_out_of_range(const engine::OffsetOutOfRange& refused) {
    const auto& tp = refused.partition;
    const auto epoch = epochs_.find(tp);
    if (epoch == epochs_.end()) return;
    const auto [log_start, log_end] = source_->query_log_bounds(tp, std::chrono::seconds(5));
    const std::string& policy = config_.offset_out_of_range;
    probe_.offset_out_of_range(policy);
    const std::string what = fmt::format("the checkpoint of {} (next offset {}) is outside its log [{}, {}): retention deleted those records "
                                         "or the topic was recreated",
                                         tp.to_string(), refused.offset, log_start, log_end);
    if (policy == "fail")
        throw FatalStop{what + ". source.offset_out_of_range = fail: stopping. Move the position with `starstreamd offsets reset` "
                               "(or choose earliest or latest) and restart.",
                        kExitOffsetOutOfRange};
    if (log_start < 0 || log_end < 0) {
        spdlog::warn("{}; the log bounds are not known yet, asking again", what);
        reposition();
        return;
    }
    const std::int64_t to = policy == "earliest" ? log_start : log_end;
    spdlog::error("{}. source.offset_out_of_range = {}: resuming at offset {}; the gap is recorded in starstream.offset_gap", what, policy, to);
    batch_.offset_gaps.push_back({tp, refused.offset, to, log_start, log_end, policy, now_us_});
    batch_.checkpoint.moved(tp, to, epoch->second);
    progress_by_partition_[tp].position = to;
    reposition();
}

bool StreamRunner::caught_up() const {
    if (epochs_.empty() || !batch_.empty()) return false;
    for (const auto& [tp, epoch] : epochs_)
        if (!at_end_.count(tp)) return false;
    return true;
}

void StreamRunner::publish_partitions() {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<PartitionStatus> statuses;
    for (const auto& [tp, epoch] : epochs_) {
        const PartitionProgress& p = progress_by_partition_[tp];
        const auto [low, high] = source_->watermarks(tp);
        PartitionStatus status{tp.topic, tp.partition, p.position, high};
        if (high >= 0) status.lag_records = std::max<std::int64_t>(0, high - (p.position >= 0 ? p.position : std::max<std::int64_t>(low, 0)));
        if (status.lag_records > 0 && p.last_timestamp_ms >= 0) status.lag_seconds = std::max(0.0, now - static_cast<double>(p.last_timestamp_ms) / 1000.0);
        const std::int64_t watermark_us = watermarks_.partition_watermark(tp);
        status.watermark = watermark_us == engine::kNoWatermark ? -1 : static_cast<double>(watermark_us) / 1e6;
        status.aligned_paused = source_->held_for_alignment().count(tp) > 0;
        const double age = status.watermark >= 0 ? now - status.watermark : 0;
        probe_.partition(tp, static_cast<double>(status.lag_records), status.lag_seconds, std::max(0.0, status.watermark), age);
        statuses.push_back(std::move(status));
    }
    state_.set_partitions(std::move(statuses), !epochs_.empty());
    state_.kafka_security(source_->security_failure());
    probe_.kafka_errors(source_->errors(), source_->security_failures());
    probe_.cache_lookups("user_agent", enrichment_.user_agent_cache.hits, enrichment_.user_agent_cache.misses);
    probe_.cache_lookups("domain", enrichment_.domain_cache.hits, enrichment_.domain_cache.misses);
}

void StreamRunner::log_progress() {
    const auto snapshot = state_.snapshot();
    std::int64_t lag = 0;
    for (const auto& p : snapshot.partitions) lag += p.lag_records;
    const std::int64_t operator_watermark = watermarks_.advance(now_us_);
    const double seconds = std::chrono::duration<double>(Clock::now() - last_progress_).count();
    const double rate = seconds > 0 ? static_cast<double>(consumed_ - consumed_at_last_progress_) / seconds : 0;
    const std::string watermark_text = operator_watermark < 0 ? "none" : utc_text(operator_watermark);
    spdlog::info("progress: {:.0f} events/s, {} consumed, {} dead letters, {} batches committed ({} records), lag {} records, watermark {}, {} partitions",
                 rate, consumed_, dead_lettered_, sink_->committed_batches(), sink_->committed_records(), lag, watermark_text, epochs_.size());
    consumed_at_last_progress_ = consumed_;
    last_progress_ = Clock::now();
    systemd_.notify(fmt::format("STATUS={:.0f} events/s, {} consumed, lag {} records, watermark {}", rate, consumed_, lag, watermark_text));
}

void StreamRunner::feed_watchdog() {
    // WATCHDOG=1 only while both loops prove progress: a hung commit stops the feeding and
    // systemd restarts the service (WatchdogSec=).
    const auto period = systemd_.watchdog_period();
    if (!period || Clock::now() < next_watchdog_) return;
    next_watchdog_ = Clock::now() + *period;
    http::HealthLimits limits;
    limits.liveness_timeout = std::chrono::duration_cast<milliseconds>(*period * 2);
    const auto checks = http::liveness(state_.snapshot(), limits, Clock::now());
    if (std::all_of(checks.begin(), checks.end(), [](const auto& c) { return c.ok; })) systemd_.notify("WATCHDOG=1");
}

void StreamRunner::run() {
    sink_->start();
    source_->subscribe();
    const Clock::time_point no_wait = Clock::time_point::min();
    auto next_progress = Clock::now() + config_.progress_interval;
    auto next_publish = Clock::now();
    next_ownership_check_ = Clock::now() + config_.ownership_check_interval;
    while (!stop_requested_) {
        state_.consume_beat();
        feed_watchdog();
        check_sink();
        if (Clock::now() >= next_publish) {
            source_->recheck_connection(milliseconds(100));  // only while the cluster refuses us
            publish_partitions();
            next_publish = Clock::now() + std::chrono::seconds(1);
        }
        try {
            follow_ownership(sink_->take_fenced());
            if (Clock::now() >= next_ownership_check_) {
                next_ownership_check_ = Clock::now() + config_.ownership_check_interval;
                check_ownership();
            }
        } catch (const engine::StoreError& e) {
            if (!e.transient()) throw;
            spdlog::warn("cannot check partition ownership now (retried in {} ms): {}", config_.ownership_check_interval.count(), e.what());
        }
        if (watermark_batch_due() || (batch_.empty() && !batch_.offset_gaps.empty())) seal_and_hand_off(no_wait, true);
        if (trigger_.fires(batch_.records, batch_.bytes, Clock::now() - batch_started_)) {
            seal_and_hand_off(no_wait);
        }
        // Still holding a full batch (a revocation may have flushed it since): the sink is
        // behind. Take no record until it catches up (the partitions' queues fill, then
        // librdkafka stops fetching them: bounded memory). Taking nothing, nothing tells whether
        // a partition stays at its end: none may count as idle (its committed watermark would
        // run to the wall clock over records the producers write meanwhile) until a record or a
        // new end of partition says so.
        const bool behind = !batch_.empty() && trigger_.full(batch_.records, batch_.bytes);
        if (behind && !backpressure_)
            for (const auto& tp : at_end_) watermarks_.set_caught_up(tp, false, now_us_);
        if (!behind && backpressure_) recheck_caught_up();
        backpressure_ = behind;
        // Up to kPollBurst messages per round: the bookkeeping above reads clocks and takes
        // locks, which cost about 5 % of the poll thread when done per message (perf).
        constexpr int kPollBurst = 512;
        now_us_ = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        for (int i = 0; i < kPollBurst && (i == 0 || !trigger_.full(batch_.records, batch_.bytes)); ++i) {
            engine::PollResult polled = source_->poll(i > 0 ? milliseconds(0) : milliseconds(backpressure_ ? 20 : 100), !backpressure_);
            if (polled.record) add_record(*polled.record);
            if (polled.end_of_partition && epochs_.count(*polled.end_of_partition)) at_end(*polled.end_of_partition, polled.end_offset);
            if (polled.out_of_range) on_out_of_range(*polled.out_of_range);
            if (!polled.record && !polled.end_of_partition) break;
        }
        align();
        if (Clock::now() >= next_progress) {
            log_progress();
            next_progress = Clock::now() + config_.progress_interval;
        }
        if (config_.stop_when_caught_up && caught_up() && queue_.idle()) {
            spdlog::info("every assigned partition is consumed to its end and committed; stopping (source.stop_when_caught_up)");
            break;
        }
    }
    check_sink();
    publish_partitions();
    systemd_.notify("STOPPING=1\nSTATUS=stopping: committing the open batch");
    spdlog::info("shutting down: committing the open batch");
    const auto deadline = Clock::now() + config_.shutdown_timeout;
    const bool handed_off = seal_and_hand_off(deadline);
    if (!handed_off || !queue_.wait_idle(std::chrono::duration_cast<milliseconds>(std::max(deadline - Clock::now(), Clock::duration::zero())))) {
        spdlog::error("the sink did not commit within shutdown.timeout_ms ({} ms); abandoning the open batch (it is read again on restart)",
                      config_.shutdown_timeout.count());
        sink_->abandon();
    }
    sink_->stop();
    batch_ = product_view::StarBatch{};  // anything still here was never committed: it will be read again
    close_quietly();                     // everything that could commit has
    log_progress();
    check_sink();
}

}  // namespace starstream::daemon

#include "driver/stream_driver.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <thread>

namespace starstream::engine {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

/// An event time in Unix microseconds as "YYYY-MM-DDTHH:MM:SSZ"; "none" for kNoWatermark.
std::string utc_text(std::int64_t time_us) {
    if (time_us == kNoWatermark) return "none";
    const std::time_t t = static_cast<std::time_t>(time_us / 1000000);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace

StreamDriver::StreamDriver(DriverSettings settings, PipelineStage& stage, CheckpointStore& checkpoints, BatchSink& sink,
                           SinkObserver& sink_observer, DriverObserver& observer)
    : settings_(std::move(settings)),
      stage_(stage),
      checkpoints_(checkpoints),
      observer_(observer),
      watermarks_({settings_.allowed_out_of_orderness_us, settings_.idle_timeout_us, /*max_ahead_us=*/0}),
      alignment_(settings_.alignment_drift_us) {
    source_ = std::make_unique<KafkaSource>(settings_.kafka, settings_.topics, settings_.starting_offsets, *this);
    source_link_ = std::make_unique<KafkaSourceLink>(*source_, settings_.kafka, settings_.startup_timeout);
    sink_ = std::make_unique<SinkLoop>(SinkLoopSettings{settings_.retry_initial, settings_.retry_max}, queue_, sink, *source_link_, sink_observer);
    new_batch();
}

StreamDriver::~StreamDriver() {
    // An exception left run(): leave the group while the members its callbacks use still exist.
    close_quietly();
    sink_->abandon();
    sink_->stop();
}

void StreamDriver::close_quietly() {
    closing_quietly_ = true;
    try {
        source_->close();
    } catch (const std::exception& e) {
        spdlog::warn("kafka consumer close: {}", e.what());
    }
}

void StreamDriver::check_sink() {
    if (auto failure = sink_->failure())
        throw DriverStop{failure->message, failure->refused ? DriverStop::Cause::sink_refused : DriverStop::Cause::fault};
}

bool StreamDriver::wait_for_source() {
    // Ask in short rounds, so that a refused authentication is reported within a second; at
    // most one round per second, whatever librdkafka answers.
    constexpr milliseconds kRound{1000};
    const auto deadline = Clock::now() + settings_.startup_timeout;
    while (!stop_requested_) {
        const auto round_end = Clock::now() + kRound;
        if (source_->check_reachable(kRound)) {
            observer_.source_health("", source_->errors(), source_->security_failures());
            // Before any claim: instances starting together must not judge lateness by the
            // partitions one of them claimed first (the others' backlog would be late).
            checkpoints_.register_partitions(source_->topic_partitions());
            return true;
        }
        source_->serve_events(milliseconds(0));
        const std::string& failure = source_->security_failure();
        observer_.source_health(failure, source_->errors(), source_->security_failures());
        // Waiting here is the process working as meant: keep /livez and the watchdog fed.
        observer_.heartbeat();
        observer_.waiting_for_source(failure);
        if (failure.empty() && Clock::now() >= deadline)
            throw std::runtime_error("no Kafka broker answered within source.startup_timeout_ms (" + std::to_string(settings_.startup_timeout.count()) + " ms)");
        std::this_thread::sleep_until(round_end);
    }
    return false;
}

void StreamDriver::new_batch() {
    batch_ = stage_.new_batch();
    batch_started_ = Clock::now();
    decode_seconds_ = enrich_seconds_ = 0;
}

void StreamDriver::add_record(const SourceRecord& record) {
    TopicPartition tp{std::string(record.topic()), record.partition()};
    auto epoch = epochs_.find(tp);
    if (epoch == epochs_.end()) return;  // fenced: a newer owner consumes this partition
    if (at_end_.erase(tp)) {
        watermarks_.set_caught_up(tp, false, now_us_);
        // With backlog again, it may be the slowest now: decide alignment again at this record.
        if (alignment_.enabled()) alignment_ceiling_us_ = kNoWatermark;
    }
    ++consumed_;
    observer_.consumed(1);
    PartitionProgress& progress = progress_by_partition_[tp];
    progress.position = record.offset() + 1;
    progress.last_timestamp_ms = record.timestamp_ms();
    progress.delivered = true;
    const std::uint16_t topic = batch_->topic_index(record.topic());
    // Decode and enrich times are sampled on one record in kTimingSample and scaled up: reading
    // the clock around every record cost about 4 % of the poll thread (perf, bench/results.md).
    constexpr int kTimingSample = 16;
    const bool timed = consumed_ % kTimingSample == 0;
    const auto t0 = timed ? Clock::now() : Clock::time_point{};
    Decoded decoded = stage_.decode(record.payload());
    if (decoded.ok() && !settings_.bounds.admits_us(decoded.event_time_us, now_us_))
        decoded.reason = "event_time_out_of_range: " + decoded.time_text +
                         " is before time.min_event_time or after now + time.max_event_time_ahead_ms";
    const std::string& reason = decoded.reason;
    const auto t1 = timed ? Clock::now() : Clock::time_point{};
    if (timed) decode_seconds_ += kTimingSample * std::chrono::duration<double>(t1 - t0).count();
    if (reason.empty()) {
        observer_.decoded(1);
        // Past the ceiling, this partition may run too far ahead: hold it before its next record.
        if (watermarks_.observe(tp, decoded.event_time_us, now_us_) > alignment_ceiling_us_) align();
        stage_.append(*batch_, {topic, record.partition(), record.offset()});
        if (timed) enrich_seconds_ += kTimingSample * std::chrono::duration<double>(Clock::now() - t1).count();
    } else {
        ++dead_lettered_;
        observer_.dead_lettered(reason);
        batch_->dead_letters.push_back({topic, record.partition(), record.offset(), reason, std::string(record.payload()), record.timestamp_ms(), {}});
    }
    ++batch_->records;
    ++batch_->partition_records[tp];
    batch_->bytes += record.payload().size();
    batch_->checkpoint.consumed(tp, record.offset(), epoch->second);
}

bool StreamDriver::seal_and_hand_off(Clock::time_point wait_until, bool watermark_only) {
    if (batch_->empty() && !watermark_only && batch_->offset_gaps.empty()) return true;
    // The batch carries every owned partition's position and watermark (so that a quiet
    // partition's watermark moves on too, fenced like the rest).
    batch_->checkpoint.seal(
        epochs_, [&](const TopicPartition& tp) { return progress_by_partition_[tp].position; },
        [&](const TopicPartition& tp) { return watermarks_.committed_watermark(tp, now_us_); });
    const std::int64_t watermark_us = watermarks_.advance(now_us_);
    // Offer only to an idle sink: at most two batches exist (one committing, one filling),
    // which bounds memory; the next batch is ready by the time the sink finishes.
    const double poll_seconds = std::chrono::duration<double>(Clock::now() - batch_started_).count();
    const double decode_seconds = decode_seconds_, enrich_seconds = enrich_seconds_;
    for (;;) {
        // Sealed once the sink can take it, or sooner once full: a hand-off that waits lets more
        // records into a batch that is not full, and sealing at every attempt would redo the
        // operators' work each time; a full one takes no records from the partitions' queues
        // (run()), so it is sealed while the sink still commits the one before, not while the sink
        // waits for it. (A record from the consumer's queue may still come: sealed again then.)
        const bool idle = queue_.idle();
        if (idle || settings_.trigger.full(batch_->records, batch_->bytes)) stage_.seal(*batch_);
        if (idle && queue_.try_offer(batch_)) break;
        if (Clock::now() >= wait_until || sink_->failure()) return false;
        queue_.wait_idle(milliseconds(100));
    }
    observer_.phase("poll", poll_seconds);
    observer_.phase("decode", decode_seconds);
    observer_.phase("enrich", enrich_seconds);
    sealed_watermark_us_ = watermark_us;
    new_batch();
    return true;
}

bool StreamDriver::watermark_batch_due() {
    // A quiet topic still needs batches: the watermark moves on with processing time once every
    // partition is idle, and the windows it closes must be written.
    if (settings_.watermark_batch_step_us <= 0 || !batch_->empty() || epochs_.empty() || Clock::now() - batch_started_ < settings_.trigger.interval)
        return false;
    const std::int64_t watermark = watermarks_.advance(now_us_);
    return watermark != kNoWatermark &&
           (sealed_watermark_us_ == kNoWatermark || watermark - sealed_watermark_us_ >= settings_.watermark_batch_step_us);
}

void StreamDriver::recheck_caught_up() {
    // librdkafka reports a partition's end once per fetch position: one that stayed at its end
    // while no record was taken gets no new report. Its fetcher kept asking, so the high
    // watermark it cached is fresh: a partition still at it is caught up again.
    for (const auto& tp : at_end_) {
        const std::int64_t high = source_->watermarks(tp).second;
        if (high >= 0 && progress_by_partition_[tp].position >= high) watermarks_.set_caught_up(tp, true, now_us_);
    }
}

void StreamDriver::at_end(const TopicPartition& tp, std::int64_t end_offset) {
    at_end_.insert(tp);
    watermarks_.set_caught_up(tp, true, now_us_);
    // A partition that never had a record takes its position from its end, so that it joins the
    // batches' checkpoints: its progress row would otherwise keep a NULL watermark, which holds
    // the topic's watermark back for good.
    if (PartitionProgress& p = progress_by_partition_[tp]; p.position < 0 && end_offset >= 0) p.position = end_offset;
}

void StreamDriver::align() {
    if (!alignment_.enabled()) return;
    const auto& held = source_->held_for_alignment();
    std::vector<AlignedPartition> partitions;
    partitions.reserve(epochs_.size());
    for (const auto& [tp, epoch] : epochs_)
        // A quiet partition (no record for the idle timeout, e.g. its leader is offline) holds
        // nothing back: waiting for it would stall this instance's every other partition.
        partitions.push_back({tp, watermarks_.partition_watermark(tp), at_end_.count(tp) > 0, watermarks_.quiet(tp, now_us_),
                              progress_by_partition_[tp].delivered});
    const AlignmentDecision decision = alignment_.decide(partitions);
    alignment_ceiling_us_ = decision.ceiling_us;
    if (decision.pause != held) {
        source_->hold_for_alignment(decision.pause);
    }
    report_alignment(decision);
}

void StreamDriver::report_alignment(const AlignmentDecision& decision) {
    const std::size_t held = source_->held_for_alignment().size();
    observer_.alignment_held(held);
    if (held == alignment_logged_ || Clock::now() < next_alignment_log_) return;
    if (held && decision.slowest) {
        spdlog::info("watermark alignment holds {} of {} partitions: their watermark runs more than time.watermark_alignment_drift_ms ({} ms) "
                     "ahead of the slowest, {} (watermark {})",
                     held, epochs_.size(), settings_.alignment_drift_us / 1000, decision.slowest->to_string(),
                     utc_text(decision.slowest_watermark_us));
    } else {
        spdlog::info("watermark alignment holds no partition now");
    }
    alignment_logged_ = held;
    next_alignment_log_ = Clock::now() + settings_.progress_interval;
}

void StreamDriver::adopt(const std::map<TopicPartition, PartitionPosition>& positions) {
    for (const auto& [tp, position] : positions) {
        epochs_[tp] = position.epoch;
        progress_by_partition_[tp] = {position.next_offset, -1};
        at_end_.erase(tp);
        watermarks_.revoke(tp);
        watermarks_.assign(tp, position.watermark_us, now_us_);
        if (alignment_.enabled()) alignment_ceiling_us_ = kNoWatermark;  // decide again at the next record
        spdlog::info("claimed {} at offset {} (epoch {}, instance {})", tp.to_string(),
                     position.next_offset >= 0 ? std::to_string(position.next_offset)
                     : position.next_offset == kFromLogStart ? std::string("log start (new partition)")
                     : settings_.starting_offsets == StartingOffsets::latest ? "source.starting_offsets (latest)"
                                                                             : "source.starting_offsets (earliest)",
                     position.epoch, settings_.instance_id);
    }
}

void StreamDriver::forget(const TopicPartition& tp) {
    epochs_.erase(tp);
    at_end_.erase(tp);
    progress_by_partition_.erase(tp);
    watermarks_.revoke(tp);
    observer_.forget(tp);
}

std::map<TopicPartition, PartitionPosition> StreamDriver::on_assigned(const std::vector<TopicPartition>& partitions) {
    // Postgres may be briefly away; retry the claim rather than give the partitions up.
    auto backoff = settings_.retry_initial;
    for (;;) {
        try {
            auto positions = checkpoints_.claim(partitions);
            adopt(positions);
            if (!ready_sent_) {
                observer_.ready(positions.size());
                ready_sent_ = true;
            }
            return positions;
        } catch (const StoreError& e) {
            // Stopping: claim nothing. The partitions' records are ignored (no epoch) and the
            // group is left right after.
            if (stop_requested_) return {};
            if (!e.transient()) throw;
            spdlog::warn("cannot claim partitions yet, retrying in {} ms: {}", backoff.count(), e.what());
            for (auto until = Clock::now() + backoff; Clock::now() < until && !stop_requested_;) std::this_thread::sleep_for(milliseconds(50));
            backoff = std::min(backoff * 2, settings_.retry_max);
        }
    }
}

void StreamDriver::on_revoked(const std::vector<TopicPartition>& partitions) {
    // Everything consumed so far commits before the partitions move to another owner, within the
    // shutdown deadline: a sink that cannot commit must not hold the group's rebalance forever.
    // What is not committed by then is read again by the next owner (its claim fences us).
    if (!closing_quietly_) {
        const auto deadline = Clock::now() + settings_.shutdown_timeout;
        bool handed_off = seal_and_hand_off(deadline);
        while (handed_off && !queue_.wait_idle(milliseconds(100)) && Clock::now() < deadline && !sink_->failure() && !stop_requested_) {
        }
        if (!handed_off || !queue_.idle())
            spdlog::warn("the sink did not commit within shutdown.timeout_ms while {} partitions are revoked; their uncommitted records are "
                         "left to the next owner",
                         partitions.size());
    }
    std::set<TopicPartition> gone(partitions.begin(), partitions.end());
    batch_->drop_partitions(gone);
    for (const auto& tp : partitions) forget(tp);
    publish_partitions();
}

void StreamDriver::reposition() {
    std::map<TopicPartition, std::int64_t> positions;
    for (const auto& [tp, epoch] : epochs_) {
        positions[tp] = progress_by_partition_[tp].position;
        progress_by_partition_[tp].delivered = false;  // alignment holds it only once it delivered from its new position
    }
    source_->reassign(positions);
}

void StreamDriver::follow_ownership(const std::map<TopicPartition, std::int64_t>& lost) {
    std::vector<TopicPartition> ours;  // lost with the epoch we still hold (not handled yet)
    for (const auto& [tp, epoch] : lost)
        if (auto it = epochs_.find(tp); it != epochs_.end() && it->second == epoch) ours.push_back(tp);
    if (ours.empty()) return;
    const auto owners = checkpoints_.owners(ours);
    std::vector<TopicPartition> reclaim;
    for (const auto& tp : ours) {
        const auto owner = owners.find(tp);
        if (owner != owners.end() && owner->second.instance == settings_.instance_id) {
            reclaim.push_back(tp);
            continue;
        }
        spdlog::warn("{} is owned by instance {} now (epoch {}); released until the group assigns it again", tp.to_string(),
                     owner == owners.end() ? "(none)" : owner->second.instance, owner == owners.end() ? 0 : owner->second.epoch);
        forget(tp);
    }
    // Records read under the old epoch would be fenced anyway: drop them now.
    batch_->drop_partitions(std::set<TopicPartition>(ours.begin(), ours.end()));
    if (!reclaim.empty()) {
        spdlog::warn("{} partition(s) had their epoch moved while this instance still owns them (an operator's reset): claiming them again",
                     reclaim.size());
        adopt(checkpoints_.claim(reclaim));
    }
    reposition();
    publish_partitions();
}

void StreamDriver::check_ownership() {
    if (epochs_.empty()) return;
    std::vector<TopicPartition> owned;
    for (const auto& [tp, epoch] : epochs_) owned.push_back(tp);
    std::map<TopicPartition, std::int64_t> lost;
    for (const auto& [tp, owner] : checkpoints_.owners(owned))
        if (owner.epoch != epochs_.at(tp)) lost[tp] = epochs_.at(tp);
    follow_ownership(lost);
}

void StreamDriver::on_out_of_range(const OffsetOutOfRange& refused) {
    const auto& tp = refused.partition;
    const auto epoch = epochs_.find(tp);
    if (epoch == epochs_.end()) return;
    const auto [log_start, log_end] = source_->query_log_bounds(tp, std::chrono::seconds(5));
    const std::string& policy = settings_.offset_out_of_range;
    observer_.offset_out_of_range(policy);
    const std::string what = fmt::format("the checkpoint of {} (next offset {}) is outside its log [{}, {}): retention deleted those records "
                                         "or the topic was recreated",
                                         tp.to_string(), refused.offset, log_start, log_end);
    if (policy == "fail")
        throw DriverStop{what + ". source.offset_out_of_range = fail: stopping. Move the position with `starstreamd offsets reset` "
                                "(or choose earliest or latest) and restart.",
                         DriverStop::Cause::offset_out_of_range};
    if (log_start < 0 || log_end < 0) {
        spdlog::warn("{}; the log bounds are not known yet, asking again", what);
        reposition();
        return;
    }
    const std::int64_t to = policy == "earliest" ? log_start : log_end;
    spdlog::error("{}. source.offset_out_of_range = {}: resuming at offset {}; the gap is recorded in starstream.offset_gap", what, policy, to);
    batch_->offset_gaps.push_back({tp, refused.offset, to, log_start, log_end, policy, now_us_});
    batch_->checkpoint.moved(tp, to, epoch->second);
    progress_by_partition_[tp].position = to;
    reposition();
}

bool StreamDriver::caught_up() const {
    if (epochs_.empty() || !batch_->empty()) return false;
    for (const auto& [tp, epoch] : epochs_)
        if (!at_end_.count(tp)) return false;
    return true;
}

void StreamDriver::publish_partitions() {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<PartitionStatus> statuses;
    for (const auto& [tp, epoch] : epochs_) {
        const PartitionProgress& p = progress_by_partition_[tp];
        const auto [low, high] = source_->watermarks(tp);
        PartitionStatus status{tp.topic, tp.partition, p.position, high};
        if (high >= 0) status.lag_records = std::max<std::int64_t>(0, high - (p.position >= 0 ? p.position : std::max<std::int64_t>(low, 0)));
        if (status.lag_records > 0 && p.last_timestamp_ms >= 0) status.lag_seconds = std::max(0.0, now - static_cast<double>(p.last_timestamp_ms) / 1000.0);
        const std::int64_t watermark_us = watermarks_.partition_watermark(tp);
        status.watermark = watermark_us == kNoWatermark ? -1 : static_cast<double>(watermark_us) / 1e6;
        status.aligned_paused = source_->held_for_alignment().count(tp) > 0;
        statuses.push_back(std::move(status));
    }
    published_lag_ = 0;
    for (const auto& status : statuses) published_lag_ += status.lag_records;
    observer_.partitions(std::move(statuses), !epochs_.empty());
    observer_.source_health(source_->security_failure(), source_->errors(), source_->security_failures());
    stage_.publish();
}

void StreamDriver::log_progress() {
    const std::int64_t lag = published_lag_;
    const std::int64_t operator_watermark = watermarks_.advance(now_us_);
    const double seconds = std::chrono::duration<double>(Clock::now() - last_progress_).count();
    const double rate = seconds > 0 ? static_cast<double>(consumed_ - consumed_at_last_progress_) / seconds : 0;
    const std::string watermark_text = operator_watermark < 0 ? "none" : utc_text(operator_watermark);
    spdlog::info("progress: {:.0f} events/s, {} consumed, {} dead letters, {} batches committed ({} records), lag {} records, watermark {}, {} partitions",
                 rate, consumed_, dead_lettered_, sink_->committed_batches(), sink_->committed_records(), lag, watermark_text, epochs_.size());
    consumed_at_last_progress_ = consumed_;
    last_progress_ = Clock::now();
    observer_.progress(fmt::format("{:.0f} events/s, {} consumed, lag {} records, watermark {}", rate, consumed_, lag, watermark_text));
}

void StreamDriver::run() {
    sink_->start();
    source_->subscribe();
    const Clock::time_point no_wait = Clock::time_point::min();
    auto next_progress = Clock::now() + settings_.progress_interval;
    auto next_publish = Clock::now();
    next_ownership_check_ = Clock::now() + settings_.ownership_check_interval;
    while (!stop_requested_) {
        observer_.heartbeat();
        check_sink();
        if (Clock::now() >= next_publish) {
            source_->recheck_connection(milliseconds(100));  // only while the cluster refuses us
            publish_partitions();
            next_publish = Clock::now() + std::chrono::seconds(1);
        }
        try {
            follow_ownership(sink_->take_fenced());
            if (Clock::now() >= next_ownership_check_) {
                next_ownership_check_ = Clock::now() + settings_.ownership_check_interval;
                check_ownership();
            }
        } catch (const StoreError& e) {
            if (!e.transient()) throw;
            spdlog::warn("cannot check partition ownership now (retried in {} ms): {}", settings_.ownership_check_interval.count(), e.what());
        }
        if (watermark_batch_due() || (batch_->empty() && !batch_->offset_gaps.empty())) seal_and_hand_off(no_wait, true);
        if (settings_.trigger.fires(batch_->records, batch_->bytes, Clock::now() - batch_started_)) {
            seal_and_hand_off(no_wait);
        }
        // Still holding a full batch (a revocation may have flushed it since): the sink is
        // behind. Take no record until it catches up (the partitions' queues fill, then
        // librdkafka stops fetching them: bounded memory). Taking nothing, nothing tells whether
        // a partition stays at its end: none may count as idle (its committed watermark would
        // run to the wall clock over records the producers write meanwhile) until a record or a
        // new end of partition says so.
        const bool behind = !batch_->empty() && settings_.trigger.full(batch_->records, batch_->bytes);
        if (behind && !backpressure_)
            for (const auto& tp : at_end_) watermarks_.set_caught_up(tp, false, now_us_);
        if (!behind && backpressure_) recheck_caught_up();
        backpressure_ = behind;
        // Up to kPollBurst messages per round: the bookkeeping above reads clocks and takes
        // locks, which cost about 5 % of the poll thread when done per message (perf).
        constexpr int kPollBurst = 512;
        now_us_ = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        // Behind, the loop waits for the sink rather than for Kafka (whose queues are full: no
        // wake-up comes from there), so that the next batch is handed off as soon as the sink is
        // free; the consumer's events (rebalances) are still served every round.
        if (backpressure_) queue_.wait_idle(milliseconds(20));
        for (int i = 0; i < kPollBurst && (i == 0 || !settings_.trigger.full(batch_->records, batch_->bytes)); ++i) {
            PollResult polled = source_->poll(i > 0 || backpressure_ ? milliseconds(0) : milliseconds(100), !backpressure_);
            if (polled.record) add_record(*polled.record);
            if (polled.end_of_partition && epochs_.count(*polled.end_of_partition)) at_end(*polled.end_of_partition, polled.end_offset);
            if (polled.out_of_range) on_out_of_range(*polled.out_of_range);
            if (!polled.record && !polled.end_of_partition) break;
        }
        align();
        if (Clock::now() >= next_progress) {
            log_progress();
            next_progress = Clock::now() + settings_.progress_interval;
        }
        if (settings_.stop_when_caught_up && caught_up() && queue_.idle()) {
            spdlog::info("every assigned partition is consumed to its end and committed; stopping (source.stop_when_caught_up)");
            break;
        }
    }
    check_sink();
    publish_partitions();
    observer_.stopping();
    spdlog::info("shutting down: committing the open batch");
    const auto deadline = Clock::now() + settings_.shutdown_timeout;
    const bool handed_off = seal_and_hand_off(deadline);
    if (!handed_off || !queue_.wait_idle(std::chrono::duration_cast<milliseconds>(std::max(deadline - Clock::now(), Clock::duration::zero())))) {
        spdlog::error("the sink did not commit within shutdown.timeout_ms ({} ms); abandoning the open batch (it is read again on restart)",
                      settings_.shutdown_timeout.count());
        sink_->abandon();
    }
    sink_->stop();
    new_batch();  // anything still here was never committed: it will be read again
    close_quietly();                     // everything that could commit has
    log_progress();
    check_sink();
}

}  // namespace starstream::engine

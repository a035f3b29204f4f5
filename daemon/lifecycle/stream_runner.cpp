#include "lifecycle/stream_runner.h"

#include <spdlog/spdlog.h>

namespace starstream::daemon {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

StreamRunner::StreamRunner(const Config& config)
    : config_(config),
      trigger_{config.trigger_interval, config.max_records, config.max_bytes},
      progress_(config.postgres_dsn, config.postgres_connect_timeout),
      geo_(config.geoip_country_v4, config.geoip_country_v6),
      decoder_(config.max_event_bytes),
      builder_(geo_) {
    source_ = std::make_unique<engine::KafkaSource>(
        config.kafka, config.topics,
        config.starting_offsets == "latest" ? engine::StartingOffsets::latest : engine::StartingOffsets::earliest, *this);
    sink_ = std::make_unique<SinkWorker>(config, queue_, *source_);
    next_batch_id_ = progress_.last_batch_id() + 1;
    new_batch();
}

StreamRunner::~StreamRunner() = default;

void StreamRunner::check_source() { source_->check_reachable(config_.startup_timeout); }

void StreamRunner::new_batch() {
    batch_ = product_view::StarBatch{};
    batch_.batch_id = next_batch_id_;
    builder_.reset();
    batch_started_ = Clock::now();
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
    at_end_.erase(tp);
    ++consumed_;
    const std::uint16_t topic = topic_index(record.topic());
    const std::string reason = decoder_.decode(record.payload(), event_);
    if (reason.empty()) {
        builder_.add_event(batch_, event_, topic, record.partition(), record.offset());
    } else {
        ++dead_lettered_;
        batch_.dead_letters.push_back({topic, record.partition(), record.offset(), reason, std::string(record.payload()), record.timestamp_ms()});
    }
    ++batch_.records;
    batch_.bytes += record.payload().size();
    batch_.checkpoint[tp] = {record.offset() + 1, epoch->second};
}

void StreamRunner::seal_and_hand_off(bool wait) {
    if (batch_.empty()) return;
    // Offer only to an idle sink: at most two batches exist (one committing, one filling),
    // which bounds memory; the next batch is ready by the time the sink finishes.
    while (!queue_.idle() || !queue_.try_offer(batch_)) {
        if (!wait) return;
        queue_.wait_idle(milliseconds(100));
    }
    ++next_batch_id_;
    new_batch();
}

std::map<engine::TopicPartition, engine::PartitionPosition> StreamRunner::on_assigned(const std::vector<engine::TopicPartition>& partitions) {
    // Postgres may be briefly away; retry the claim rather than give the partitions up.
    auto backoff = config_.postgres_retry_initial;
    for (;;) {
        try {
            auto positions = progress_.claim(partitions);
            for (const auto& [tp, position] : positions) {
                epochs_[tp] = position.epoch;
                spdlog::info("claimed {} at offset {} (epoch {})", tp.to_string(), position.next_offset, position.epoch);
            }
            return positions;
        } catch (const postgres::PgError& e) {
            if (!e.transient() || stop_requested_) throw;
            spdlog::warn("cannot claim partitions yet, retrying in {} ms: {}", backoff.count(), e.what());
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, config_.postgres_retry_max);
        }
    }
}

void StreamRunner::on_revoked(const std::vector<engine::TopicPartition>& partitions) {
    // Everything consumed so far commits before the partitions move to another owner.
    seal_and_hand_off(true);
    while (!queue_.wait_idle(milliseconds(1000))) spdlog::info("waiting for the sink to commit before giving up {} partitions", partitions.size());
    for (const auto& tp : partitions) {
        epochs_.erase(tp);
        at_end_.erase(tp);
    }
}

bool StreamRunner::caught_up() const {
    if (epochs_.empty() || !batch_.empty()) return false;
    for (const auto& [tp, epoch] : epochs_)
        if (!at_end_.count(tp)) return false;
    return true;
}

void StreamRunner::log_progress() {
    spdlog::info("progress: {} records consumed, {} dead letters, {} batches committed ({} records), {} partitions assigned, {} at end",
                 consumed_, dead_lettered_, sink_->committed_batches(), sink_->committed_records(), epochs_.size(), at_end_.size());
}

void StreamRunner::run() {
    sink_->start();
    source_->subscribe();
    auto next_progress = Clock::now() + config_.progress_interval;
    while (!stop_requested_) {
        for (const auto& tp : sink_->take_fenced()) epochs_.erase(tp);
        if (trigger_.fires(batch_.records, batch_.bytes, Clock::now() - batch_started_)) {
            seal_and_hand_off(false);
            // Still holding a sealed batch: the sink is behind. Stop fetching until it catches up.
            if (!batch_.empty() && trigger_.full(batch_.records, batch_.bytes)) {
                source_->pause_all();
            } else {
                source_->resume_all();
            }
        }
        engine::PollResult polled = source_->poll(milliseconds(source_->paused() ? 20 : 100));
        if (polled.record) add_record(*polled.record);
        if (polled.end_of_partition) at_end_.insert(*polled.end_of_partition);
        if (Clock::now() >= next_progress) {
            log_progress();
            next_progress = Clock::now() + config_.progress_interval;
        }
        if (config_.stop_when_caught_up && caught_up() && queue_.idle()) {
            spdlog::info("every assigned partition is consumed to its end and committed; stopping (source.stop_when_caught_up)");
            break;
        }
    }
    spdlog::info("shutting down: committing the open batch");
    seal_and_hand_off(false);
    const auto deadline = Clock::now() + config_.shutdown_timeout;
    while (!batch_.empty() && Clock::now() < deadline) {
        queue_.wait_idle(milliseconds(100));
        seal_and_hand_off(false);
    }
    if (!queue_.wait_idle(std::chrono::duration_cast<milliseconds>(std::max(deadline - Clock::now(), Clock::duration::zero())))) {
        spdlog::error("the sink did not commit within shutdown.timeout_ms ({} ms); abandoning the open batch", config_.shutdown_timeout.count());
        sink_->abandon();
    }
    sink_->stop();
    batch_ = product_view::StarBatch{};  // anything still here was never committed: it will be read again
    source_->close();
    log_progress();
}

}  // namespace starstream::daemon

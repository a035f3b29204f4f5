#include "event_id.h"

#include "spec/content_id.h"

namespace starstream::bench::loader {

void event_id(const CommerceEvent& event, std::string& out) {
    const CommerceRow& r = *event.row;
    thread_local std::string time;  // its buffer is reused from event to event
    time = std::to_string(event.epoch_us);
    // The order of pipelines/commerce_events.yaml's event.id.hash.
    daemon::spec::content_id::uuid_of({time, r.event_type, r.product_id, r.user_id, r.user_session, event.price}, out);
}

}  // namespace starstream::bench::loader

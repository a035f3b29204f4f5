#include "commerce_row.h"

namespace starstream::bench::loader {

void CommerceRow::clear() {
    for (std::string* s : {&event_time, &event_type, &product_id, &category_id, &category_code, &brand, &price, &user_id, &user_session})
        s->clear();
}

const char* to_string(RejectReason reason) {
    switch (reason) {
        case RejectReason::invalid_utf8: return "invalid_utf8";
        case RejectReason::malformed_csv: return "malformed_csv";
        case RejectReason::field_count: return "field_count";
        case RejectReason::malformed_json: return "malformed_json";
        case RejectReason::missing_event_time: return "missing_event_time";
        case RejectReason::missing_event_type: return "missing_event_type";
        case RejectReason::missing_product_id: return "missing_product_id";
        case RejectReason::missing_user_id: return "missing_user_id";
        case RejectReason::missing_user_session: return "missing_user_session";
        case RejectReason::unknown_event_type: return "unknown_event_type";
        case RejectReason::bad_event_time: return "bad_event_time";
        case RejectReason::bad_price: return "bad_price";
        case RejectReason::negative_price: return "negative_price";
    }
    return "unknown";
}

}  // namespace starstream::bench::loader

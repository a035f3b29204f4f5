// A decoded product_view event (format: ../shared/EVENTS.md), the fields the star schema uses.
// Strings are copies; email_address is never kept (personal data).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace starstream::daemon::product_view {

struct ProductViewEvent {
    std::array<std::uint8_t, 16> id{};  ///< the event UUID, big-endian bytes
    std::int64_t time_stamp = 0;        ///< event time, Unix seconds (UTC)
    std::string ip;                     ///< as sent; may be "" or not an address
    std::string user_agent;
    std::string resolution;
    std::string device_id;
    std::string customer_id;            ///< user_id_db; "" when anonymous
    std::string store_id;
    std::string current_url;
    std::string referrer_url;           ///< "" when missing
    std::string collection;
    std::string product_id;             ///< "" on non-product pages
    std::string viewing_product_id;     ///< the product page a recommendation list was opened from; usually ""
    std::string options_json;           ///< the `option` value as raw JSON; "" when absent or ""
};

}  // namespace starstream::daemon::product_view

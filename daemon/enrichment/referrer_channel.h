// Referrer URL -> the referrer dimension's member: registrable domain and marketing channel.
// Channels follow the shape of Google Analytics' default channel grouping, reduced to what a
// referrer alone can tell: search, social, email, internal (one of the shop's own sites),
// direct (no referrer) and other.
// Thread rules: pure functions over an immutable WebAddress.
#pragma once

#include "enrichment/web_address.h"

#include <string>
#include <string_view>

namespace starstream::daemon::enrichment {

struct Referrer {
    std::string domain;   ///< registrable domain; "" for direct traffic
    std::string channel;  ///< search, social, email, internal, direct or other
};

/// Classifies `referrer_url` seen on a page of the shop site `shop_site_name` (the current
/// URL's registrable domain without its suffix: every country store of "shop.de",
/// "shop.co.uk" is "shop", so moving between them is internal).
/// Rules, first match wins: no host -> direct; a webmail host (mail.*, webmail.*, outlook.*)
/// -> email; the shop's site -> internal; a known social network -> social; a known search
/// engine -> search; anything else -> other.
Referrer classify_referrer(const WebAddress& web, std::string_view referrer_url, std::string_view shop_site_name);

}  // namespace starstream::daemon::enrichment

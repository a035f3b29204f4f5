// A referrer's marketing channel. Channels follow the shape of Google Analytics' default
// channel grouping, reduced to what a referrer alone can tell: search, social, email, internal
// (one of the shop's own sites), direct (no referrer) and other.
// Thread rules: pure function.
#pragma once

#include "enrichment/web_address.h"

#include <string_view>

namespace starstream::daemon::enrichment {

/// The channel of a referrer with lower-case host `host` ("" for none) and domain parts
/// `referrer`, seen on a page of the shop site `shop_site_name` (the current URL's site name:
/// every country store of "shop.de", "shop.co.uk" is "shop", so moving between them is
/// internal). Rules, first match wins: no host -> direct; a webmail host (mail.*, webmail.*,
/// email.*, outlook.*) -> email; the shop's site -> internal; a known social network -> social;
/// a known search engine -> search; anything else -> other.
std::string_view referrer_channel(std::string_view host, const DomainParts& referrer, std::string_view shop_site_name);

}  // namespace starstream::daemon::enrichment

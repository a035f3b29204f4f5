#include "enrichment/web_address.h"

#include <libpsl.h>

#include <stdexcept>

namespace starstream::daemon::enrichment {

std::string url_host(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return "";
    url.remove_prefix(scheme + 3);
    std::string_view authority = url.substr(0, url.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    if (!authority.empty() && authority.front() == '[') {  // an IPv6 literal: [::1]:8080
        authority = authority.substr(1, authority.find(']') - 1);
    } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
        authority = authority.substr(0, colon);
    }
    std::string host(authority);
    for (char& c : host)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII only: hosts travel IDNA-encoded
    return host;
}

std::string canonical_url(std::string_view url) {
    const auto scheme_end = url.find("://");
    std::string host = url_host(url);
    if (host.empty()) return "";
    std::string out(url.substr(0, scheme_end));
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += "://";
    out += host;
    std::string_view rest = url.substr(scheme_end + 3);
    const auto path_start = rest.find_first_of("/?#");
    const std::string_view after_authority = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
    const std::string_view path = after_authority.substr(0, after_authority.find_first_of("?#"));
    out += path.empty() ? "/" : path;
    return out;
}

WebAddress::WebAddress() : psl_(psl_latest(nullptr)), owned_(true) {
    if (!psl_) {
        psl_ = psl_builtin();
        owned_ = false;
    }
    if (!psl_) throw std::runtime_error("cannot load the Public Suffix List (package publicsuffix, libpsl)");
}

WebAddress::~WebAddress() {
    if (owned_) psl_free(const_cast<psl_ctx_t*>(psl_));
}

std::string WebAddress::registrable_domain(std::string_view host) const {
    const std::string h(host);
    // An address literal is not a domain: the list would cut 93.184.216.34 to "216.34".
    if (h.find(':') != std::string::npos || h.find_first_not_of("0123456789.") == std::string::npos) return h;
    const char* domain = psl_registrable_domain(psl_, h.c_str());
    return domain ? std::string(domain) : h;
}

std::string WebAddress::tld_country(std::string_view domain) {
    const auto dot = domain.rfind('.');
    if (dot == std::string_view::npos) return "";
    const std::string_view tld = domain.substr(dot + 1);
    if (tld.size() != 2 || tld == "eu") return "";
    if (tld == "uk") return "GB";
    std::string code(tld);
    for (char& c : code) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return code;
}

std::string WebAddress::site_name(std::string_view registrable) const {
    const std::string d(registrable);
    const char* suffix = psl_unregistrable_domain(psl_, d.c_str());  // the public suffix
    if (!suffix || suffix == d.c_str()) return d;
    const std::size_t name_length = static_cast<std::size_t>(suffix - d.c_str());
    return d.substr(0, name_length > 0 ? name_length - 1 : 0);  // without the dot before the suffix
}

DomainParts WebAddress::domain_parts(std::string_view host) const {
    DomainParts parts{registrable_domain(host), ""};
    parts.site_name = site_name(parts.registrable_domain);
    return parts;
}

}  // namespace starstream::daemon::enrichment

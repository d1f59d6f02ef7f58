//! The address a request comes from, for per-address limits. Behind a reverse proxy every
//! connection comes from the proxy; only a proxy the operator named is believed about the
//! client's address (its `X-Forwarded-For`), so nobody else can pick an address to dodge a
//! limit.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client's address: the peer itself, unless the peer is a trusted proxy; then the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy (proxies append, so the
/// addresses left of it were written by the client and prove nothing).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in forwarded.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(address) if trusted_proxies.contains(&address) => continue,
            Ok(address) => return address,
            // A hop that is not an address: nothing further left can be trusted.
            Err(_) => return peer,
        }
    }
    peer
}

/// The key per-address limits count under: an IPv4 address as it is, an IPv6 address by its
/// /64 (one subscriber's network: a single host there can take any of 2^64 addresses, so
/// keying by the whole address lets it walk around every limit and fill the tables).
pub fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_keyed_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("v6");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(other));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("mapped");
        assert_eq!(network(mapped), IpAddr::from([203, 0, 113, 7]));
        let v4: IpAddr = [198, 51, 100, 1].into();
        assert_eq!(network(v4), v4);
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let client: IpAddr = [203, 0, 113, 7].into();
        let stranger: IpAddr = [198, 51, 100, 9].into();
        let trusted = [proxy];
        // A client that is no proxy cannot claim another address.
        assert_eq!(
            client_ip(stranger, &headers(&["1.2.3.4"]), &trusted),
            stranger
        );
        // Through the proxy: the address the proxy appended.
        assert_eq!(
            client_ip(proxy, &headers(&["1.2.3.4, 203.0.113.7"]), &trusted),
            client
        );
        assert_eq!(
            client_ip(
                proxy,
                &headers(&["1.2.3.4", "203.0.113.7, 10.0.0.1"]),
                &trusted
            ),
            client
        );
        // Nothing usable: the proxy itself.
        assert_eq!(client_ip(proxy, &headers(&[]), &trusted), proxy);
        assert_eq!(client_ip(proxy, &headers(&["junk"]), &trusted), proxy);
    }
}

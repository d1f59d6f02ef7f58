//! Distances between places on the Earth, for the travel rule and a tap's location.

/// Great-circle (haversine) distance in km between two points in degrees (lat, lon).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1, lat2, lon2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// A point stored in microdegrees, in degrees.
pub fn from_e6(point: (i64, i64)) -> (f64, f64) {
    (point.0 as f64 / 1_000_000.0, point.1 as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seoul_to_busan_is_about_325_km_and_a_place_to_itself_zero() {
        let gangnam = (37.4979, 127.0276);
        let haeundae = (35.1631, 129.1636);
        let d = distance_km(gangnam, haeundae);
        assert!((315.0..330.0).contains(&d), "{d}");
        assert!(distance_km(gangnam, gangnam) < 1e-9);
        assert_eq!(from_e6((37_497_900, 127_027_600)), gangnam);
    }
}

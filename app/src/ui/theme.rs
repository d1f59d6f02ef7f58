//! Colors and styles: calm, high-contrast, readable from a step away.

use iced::widget::{button, container};
use iced::{Background, Border, Color, Font, Theme, font};

/// The shipped font (Hangul included): a PC's own fonts may have none.
pub const REGULAR_FONT: &[u8] = include_bytes!("../../../assets/fonts/Pretendard-Regular.otf");
pub const BOLD_FONT: &[u8] = include_bytes!("../../../assets/fonts/Pretendard-Bold.otf");

pub const REGULAR: Font = Font::with_name("Pretendard");
pub const BOLD: Font = Font {
    weight: font::Weight::Bold,
    ..REGULAR
};

pub const INK: Color = Color::from_rgb(0.13, 0.15, 0.19);
pub const MUTED: Color = Color::from_rgb(0.42, 0.45, 0.50);
pub const PAPER: Color = Color::from_rgb(0.97, 0.97, 0.98);
pub const CARD: Color = Color::WHITE;
pub const GREEN: Color = Color::from_rgb(0.10, 0.55, 0.35);
pub const AMBER: Color = Color::from_rgb(0.80, 0.52, 0.05);
pub const AMBER_SOFT: Color = Color::from_rgb(1.0, 0.95, 0.84);
pub const RED: Color = Color::from_rgb(0.78, 0.20, 0.20);
pub const BLUE: Color = Color::from_rgb(0.16, 0.38, 0.80);
pub const BLUE_SOFT: Color = Color::from_rgb(0.90, 0.94, 1.0);

pub fn page(_: &Theme) -> container::Style {
    container::Style::default().background(PAPER).color(INK)
}

pub fn card(_: &Theme) -> container::Style {
    container::Style::default().background(CARD).border(Border {
        color: Color::from_rgb(0.88, 0.89, 0.91),
        width: 1.0,
        radius: 12.0.into(),
    })
}

/// A refused scan's card: the same size as a check-in's, unmistakably red.
pub fn refusal_card(_: &Theme) -> container::Style {
    container::Style::default()
        .background(Color::from_rgb(1.0, 0.93, 0.93))
        .border(Border {
            color: RED,
            width: 4.0,
            radius: 12.0.into(),
        })
}

pub fn status_bar(_: &Theme) -> container::Style {
    container::Style::default()
        .background(INK)
        .color(Color::WHITE)
}

pub fn offline_banner(_: &Theme) -> container::Style {
    container::Style::default()
        .background(AMBER_SOFT)
        .color(INK)
        .border(Border {
            color: AMBER,
            width: 1.0,
            radius: 8.0.into(),
        })
}

pub fn notice_banner(_: &Theme) -> container::Style {
    container::Style::default()
        .background(BLUE_SOFT)
        .color(INK)
        .border(Border {
            color: BLUE,
            width: 1.0,
            radius: 8.0.into(),
        })
}

pub fn chip(color: Color) -> impl Fn(&Theme) -> container::Style {
    move |_| {
        container::Style::default()
            .background(Background::Color(Color { a: 0.12, ..color }))
            .color(color)
            .border(Border {
                color,
                width: 1.0,
                radius: 14.0.into(),
            })
    }
}

pub fn avatar(_: &Theme) -> container::Style {
    container::Style::default()
        .background(BLUE)
        .color(Color::WHITE)
        .border(Border {
            color: BLUE,
            width: 0.0,
            radius: 60.0.into(),
        })
}

pub fn row_line(_: &Theme) -> container::Style {
    container::Style::default().border(Border {
        color: Color::from_rgb(0.92, 0.92, 0.94),
        width: 1.0,
        radius: 6.0.into(),
    })
}

pub fn nav(selected: bool) -> impl Fn(&Theme, button::Status) -> button::Style {
    move |theme, status| {
        if selected {
            button::primary(theme, status)
        } else {
            button::secondary(theme, status)
        }
    }
}

//! An experiment's report as an SVG timeline (feature `chart`):
//! availability and p99 per time slice, the stretches shaded, breaker
//! states as a band, events as marks.

use super::report::{Report, StretchKind};
use plotters::prelude::*;
use std::time::Duration;

/// Slices per chart: fine enough to see a breaker trip, coarse enough to
/// have requests in each.
const SLICES: usize = 120;

impl Report {
    /// The report drawn as an SVG document: availability (%) and p99
    /// latency (ms) per time slice, each stretch shaded (red: a stretch that
    /// broke the hypothesis), the watched breakers' states as a band under
    /// the title (green closed, red open, amber half-open) and their events
    /// as marks.
    pub fn svg(&self) -> String {
        let mut out = String::new();
        // Drawing into a string cannot fail but for a bug; keep what was
        // drawn.
        let _ = self.draw(&mut out);
        out
    }

    /// Writes [`svg`](Self::svg) to `path`.
    pub fn write_svg(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.svg())
    }

    fn draw(&self, out: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        let end = self
            .stretches
            .last()
            .map_or(Duration::from_secs(1), |s| s.start + s.duration)
            .as_secs_f64()
            .max(0.001);
        let slice = end / SLICES as f64;
        // Per slice: requests, served, latencies.
        let mut slices: Vec<(u64, u64, Vec<Duration>)> = vec![(0, 0, Vec::new()); SLICES];
        for s in &self.samples {
            let i = ((s.at.as_secs_f64() / slice) as usize).min(SLICES - 1);
            slices[i].0 += 1;
            slices[i].1 += u64::from(s.served);
            slices[i].2.push(s.latency);
        }
        let availability: Vec<(f64, f64)> = slices
            .iter()
            .enumerate()
            .filter(|(_, s)| s.0 > 0)
            .map(|(i, s)| ((i as f64 + 0.5) * slice, s.1 as f64 * 100.0 / s.0 as f64))
            .collect();
        let p99: Vec<(f64, f64)> = slices
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| s.0 > 0)
            .map(|(i, s)| {
                s.2.sort();
                let rank = ((s.2.len() as f64 * 0.99).ceil() as usize).clamp(1, s.2.len());
                (
                    (i as f64 + 0.5) * slice,
                    s.2[rank - 1].as_secs_f64() * 1000.0,
                )
            })
            .collect();
        let max_ms = p99.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;

        let root = SVGBackend::with_string(out, (1000, 640)).into_drawing_area();
        root.fill(&WHITE)?;
        let verdict = format!(
            "{} — {:?}{}",
            self.title,
            self.verdict.status,
            if self.verdict.deviated {
                " (deviated)"
            } else {
                ""
            }
        );
        let root = root.titled(&verdict, ("sans-serif", 20))?;
        let (band, rest) = root.split_vertically(36);
        let (top, bottom) = rest.split_vertically(290);

        self.draw_band(&band, end)?;
        for (area, label, max, points, colour) in [
            (&top, "availability (%)", 100.0, &availability, BLUE),
            (&bottom, "p99 latency (ms)", max_ms, &p99, MAGENTA),
        ] {
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..end, 0f64..max)?;
            chart
                .configure_mesh()
                .x_desc("seconds")
                .y_desc(label)
                .light_line_style(WHITE)
                .draw()?;
            chart.draw_series(self.stretches.iter().map(|s| {
                let (x0, x1) = (s.start.as_secs_f64(), (s.start + s.duration).as_secs_f64());
                let shade = match (s.passed(), s.kind) {
                    (false, _) => RED.mix(0.12),
                    (true, StretchKind::Phase) => YELLOW.mix(0.15),
                    (true, _) => GREEN.mix(0.10),
                };
                Rectangle::new([(x0, 0.0), (x1, max)], shade.filled())
            }))?;
            chart.draw_series(self.stretches.iter().map(|s| {
                let x = s.start.as_secs_f64();
                Text::new(
                    s.name.clone(),
                    (x + end * 0.005, max * 0.97),
                    ("sans-serif", 12),
                )
            }))?;
            chart.draw_series(self.marks.iter().map(|m| {
                let x = m.at.as_secs_f64();
                PathElement::new(vec![(x, 0.0), (x, max)], BLACK.mix(0.35))
            }))?;
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?;
        }
        root.present()?;
        Ok(())
    }

    /// The breakers' states over time, as coloured stretches of a band.
    fn draw_band<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
        end: f64,
    ) -> Result<(), Box<dyn std::error::Error + '_>>
    where
        DB::ErrorType: 'static,
    {
        let mut chart = ChartBuilder::on(area)
            .margin_left(64)
            .margin_right(8)
            .build_cartesian_2d(0f64..end, 0f64..1f64)?;
        let mut from = 0.0;
        let mut state = "Closed".to_owned();
        let mut spans = Vec::new();
        for m in &self.marks {
            if let Some(next) = &m.breaker_state {
                spans.push((from, m.at.as_secs_f64(), state.clone()));
                from = m.at.as_secs_f64();
                state = next.clone();
            }
        }
        spans.push((from, end, state));
        chart.draw_series(spans.into_iter().map(|(x0, x1, state)| {
            let colour = match state.as_str() {
                "Open" | "ForcedOpen" => RED,
                "HalfOpen" => RGBColor(255, 170, 0),
                _ => GREEN,
            };
            Rectangle::new([(x0, 0.1), (x1, 0.9)], colour.mix(0.6).filled())
        }))?;
        Ok(())
    }
}

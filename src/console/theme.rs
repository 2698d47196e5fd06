//! Colour themes by role, loaded from themes/*.toml.

#[derive(Debug, Clone, Default)]
pub struct Theme {}

impl Theme {
    pub fn load(name: &str) -> Result<Theme, String> {
        let _ = name;
        Ok(Theme {})
    }
}

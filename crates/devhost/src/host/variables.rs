//! `fermyon:spin/variables@2.0.0`: a component reads only its own `[component.X.variables]`.

use super::spin_interfaces::variables::{Error, Host};
use super::HostState;
use crate::ids::check_variable;

impl Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        self.calls.record_variable(&name);
        if let Err(e) = check_variable(&name) {
            return Ok(Err(Error::InvalidName(format!("{name:?}: {e}"))));
        }
        Ok(match self.component.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(Error::Undefined(format!("no variable for {:?}.{name:?}", self.component.id))),
        })
    }
}

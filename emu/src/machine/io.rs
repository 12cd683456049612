//! The machine's I/O: port reads and writes to the devices, the console (sink, tail, full
//! log) and console input.

#[allow(unused_imports)]
use super::*;

/// Receives console output as the guest produces it.
pub type ConsoleSink = Box<dyn FnMut(&[u8])>;

/// A console sink that streams guest output to the host's stdout as it is produced.
pub fn stdout_sink() -> ConsoleSink {
    Box::new(|b: &[u8]| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b);
        let _ = out.flush();
    })
}

pub(super) struct Console {
    pub(super) all: Vec<u8>,
    pub(super) tail: VecDeque<u8>,
    pub(super) sink: Option<ConsoleSink>,
}

impl MachineState {
    /// Hand new guest output to the sink, the tail and the input script. True if a script
    /// step waiting for output can now fire.
    pub(super) fn flush_console(&mut self) -> bool {
        let out = self.devices.uart.take_output();
        if out.is_empty() {
            return false;
        }
        if let Some(sink) = self.console.sink.as_mut() {
            sink(&out);
        }
        let input_due = self.input.on_output(&out, self.clock.insns());
        self.console.all.extend_from_slice(&out);
        self.console.tail.extend(out.iter().copied());
        while self.console.tail.len() > CONSOLE_TAIL {
            self.console.tail.pop_front();
        }
        input_due
    }

    pub(super) fn env_parts(
        &mut self,
        h: *mut unicorn_engine::uc_engine,
    ) -> Option<(Rc<Ram>, ContextLayout, RawContext)> {
        let ctx = match self.scratch.take() {
            Some(c) => c,
            None => RawContext::new(h).ok()?,
        };
        Some((self.ram.clone(), self.layout, ctx))
    }
}

pub(super) fn on_io_out<'x>(
    uc: &mut Unicorn<'x, MachineState>,
    port: u32,
    size: usize,
    value: u32,
) {
    let st = uc.get_data_mut();
    let now = st.clock.now_ns();
    let irq_before = st.devices.pic.has_interrupt();
    let stop = st.devices.io_write(port as u16, size, value, now);
    let input_due = st.flush_console();
    let irq = st.devices.pic.has_interrupt();
    if let Some(t) = st.devices.next_event_ns() {
        st.clock.lower_deadline_ns(t);
    }
    match stop {
        Some(DeviceStop::Exit(code)) => {
            st.stop.get_or_insert(StopReason::Exit(code));
            request_stop(uc);
        }
        Some(DeviceStop::Reset) => {
            st.stop.get_or_insert(StopReason::Reset);
            request_stop(uc);
        }
        None if (irq && !irq_before) || input_due => {
            // A device raised an interrupt, or the input script saw the output it waits for:
            // let the run loop deliver or inject right after this instruction.
            st.resync = true;
            request_stop(uc);
        }
        None => {}
    }
}

pub(super) fn on_io_in<'x>(uc: &mut Unicorn<'x, MachineState>, port: u32, size: usize) -> u32 {
    let st = uc.get_data_mut();
    let now = st.clock.now_ns();
    st.devices.io_read(port as u16, size, now)
}

impl Machine {
    /// Send a console function the guest's output as it is produced (e.g. to stdout).
    pub fn set_console_sink(&mut self, sink: Option<ConsoleSink>) {
        self.uc.get_data_mut().console.sink = sink;
    }

    /// Everything the guest printed so far (kept until taken).
    pub fn console(&self) -> &[u8] {
        &self.uc.get_data().console.all
    }

    /// Take the console output accumulated so far.
    pub fn take_console(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.uc.get_data_mut().console.all)
    }

    /// Queue bytes for the guest to read from the console UART (between runs; during a run
    /// use [`Machine::set_input`]).
    pub fn push_console_input(&mut self, bytes: &[u8]) {
        self.uc.get_data_mut().devices.push_console_input(bytes);
    }

    /// Attach a console input source for the following runs (replacing any previous one).
    /// A script's first step is armed now (a `@sleep` counts from the current virtual time);
    /// a stream starts its reader thread now.
    pub fn set_input(&mut self, source: InputSource) {
        let now = self.clock.now_ns();
        self.uc
            .get_data_mut()
            .input
            .set(Some(source), now, &self.trigger);
    }

    /// Detach the console input source (the log is kept).
    pub fn clear_input(&mut self) {
        self.uc.get_data_mut().input.set(None, 0, &self.trigger);
        self.host_input.store(false, Ordering::Relaxed);
    }

    /// Every console input injected so far, with the instruction count and virtual time at
    /// which it became readable (what a recording must store to replay a live session).
    pub fn input_log(&self) -> &[InputEvent] {
        self.uc.get_data().input.log()
    }

    /// Inject the input that is due now (at a block boundary).
    pub(super) fn pump_input(&mut self) {
        let (insns, now) = (self.clock.insns(), self.clock.now_ns());
        let st = self.uc.get_data_mut();
        let bytes = st.input.pump(insns, now);
        if !bytes.is_empty() {
            st.devices.push_console_input(&bytes);
        }
    }

    /// The last `n` console lines.
    pub fn console_tail(&self, n: usize) -> Vec<String> {
        let tail: Vec<u8> = self.uc.get_data().console.tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&tail);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

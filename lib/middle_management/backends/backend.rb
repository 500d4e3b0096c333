module MiddleManagement
  module Backends
    # The adapter contract: what the gem asks of each job library's adapter
    # (DelayedJob, Sidekiq, Resque, GoodJob, SolidQueue), a module that
    # `extend`s this one (GoodJob and Solid Queue through ActiveJobLibrary).
    # The gem calls these methods on every adapter, without asking first
    # whether it has them: an adapter defines the required ones and those
    # optional ones whose default does not fit.
    #
    # Required:
    # - `available?`: the library is loaded (nothing is loaded to ask).
    # - `install(agent)`: hooks the library, once however often it is
    #   called, so that job changes wake the agent (Runtime::Agent#wake),
    #   its workers watch the queue (MiddleManagement.watch) and, where the
    #   library allows, take no job while their dyno drains
    #   (MiddleManagement.draining?); registers the adapter with
    #   `agent.add_backend(self)`. Never raises into the library's hooks.
    # - `count(pool, cap:)`: a Backends::Counts for the pool's queues
    #   (Configuration::Pool#covers?), on the coordinator thread. `cap`:
    #   runnable jobs need be counted only this far (nil: exactly).
    #
    # Optional (the defaults below):
    # - `store(app)`: the coordination store the library's own database or
    #   Redis holds (Store::SQL, Store::Redis); nil when it offers none or
    #   it is not installed.
    # - `busy_lag`: seconds a running job may take to show in a count (a
    #   scale-down waits that long); nil when a count sees it at once.
    # - `beat(names)`: records that this process's workers, by the names
    #   their locks carry, are alive (Worker::Heartbeat, Store::Heartbeats).
    module Backend
      def available? = raise(NotImplementedError, not_implemented("available?"))

      def install(_agent) = raise(NotImplementedError, not_implemented("install(agent)"))

      def count(_pool, cap: nil) = raise(NotImplementedError, not_implemented("count(pool, cap:)"))

      def store(_app) = nil

      def busy_lag = nil

      def beat(_names) = nil

      private

      def not_implemented(method) = "#{name || inspect} does not define #{method} (Backends::Backend)"
    end
  end
end

require "middle_management/errors"
require "securerandom"
require "socket"

module MiddleManagement
  # The app's shared decision record, in a store the app already has: one
  # short decision lease and one throttle window for the whole app, and per
  # pool (process type) what was last decided and sent. Every process of the
  # app (web, worker, console) goes through it, so the app speaks to Heroku
  # with one voice.
  #
  #   lease = store.claim(%w[worker urgent_worker], gap: 1000) # a Lease, or a Held saying when to try again
  #   lease.record("worker").quantity       # what Heroku confirmed it has (nil: unknown)
  #   lease.settle(window_opens_at: lease.now + 10_000, look_at: nil, pools: { "worker" => { needed: 3, memory: "…" } })
  #   store.confirm_quantity("worker", 3)   # Heroku said so
  #
  # The record holds only what Heroku confirmed: a decision records what it
  # wants and when the app may call next; the quantity is written when a
  # call succeeds or Heroku's formation is read. A process that dies between
  # its call and Heroku's answer leaves a record that is behind, never
  # ahead: the next decision calls again rather than believing a change
  # that never happened.
  #
  # A claim's `gap` (ms): none is granted within that long of the app's
  # last decision, unless a process left news, so news from many processes
  # costs the app one count per gap, not one each.
  #
  # Every store also keeps the app's scaling history (Store::History):
  # `record_history(entries, prune_before:)`, one write per decision, and
  # `history(pool:, since:, kinds:)`, oldest first; `history_unavailable`
  # says why none is kept (a table not installed), or is nil.
  #
  # Times are milliseconds since the epoch on the store's own clock (the
  # database's, Redis's), never a dyno's: `lease.now` is the store's time at
  # the claim plus what has elapsed since. Adapters: Store::SQL (ActiveRecord:
  # PostgreSQL, MySQL, SQLite), Store::Redis (Sidekiq's or Resque's Redis)
  # and Store::Local (this process only: the store is not installed).
  module Store
    LEASE_TTL = 5_000 # ms: a lease whose holder died frees itself this soon
    LEASE_TTL_MAX = 3_600_000 # ms: no claim asks for longer; a lease ending later was written by hand
    LEASE_POLL = 200 # ms: how soon a process that found the lease held tries again

    # A pool's record. `quantity`: what Heroku confirmed; `needed`: what the
    # work needs (dynos numbered above it drain: Worker::Drain); `memory`:
    # the pacing's memory of recent wishes, opaque here. The store keeps
    # `needed` and `memory` under older names (Fields::STORED_AS).
    PoolRecord = Struct.new(:quantity, :needed, :memory, keyword_init: true)
    POOL_FIELDS = %i[needed memory].freeze # what a decision records (the quantity is Heroku's word)

    # The app's record. `pending_at`: the earliest news a process left
    # without deciding on it (it exited while the window was closed);
    # `look_at`: when the app must decide again even without news (a job
    # scheduled ahead, a window or a scale-down delay ending), so that any
    # process can make that look if the one that asked for it is gone.
    AppRecord = Struct.new(:window_opens_at, :decided_at, :pending_at, :look_at, keyword_init: true)

    # The lease is held by another process, or the app decided less than the
    # claim's gap ago: `retry_in` seconds to wait before trying again;
    # `look_in`: seconds to the app's next look, as its record says (nil: none).
    Held = Struct.new(:retry_in, :look_in, keyword_init: true) do
      def held? = true
    end

    # This process holds the app's lease until it settles or releases it.
    class Lease
      attr_reader :app, :claimed_at, :problems, :holder

      # `problems`: [key, message] pairs for fields read back as absent (Fields).
      def initialize(store, holder, app, pools, now_ms, problems: [])
        @store = store
        @holder = holder
        @app = app
        @pools = pools
        @claimed_at = now_ms
        @claimed_mono = monotonic_ms
        @problems = problems
      end

      def held? = false

      def record(pool) = @pools.fetch(pool) { PoolRecord.new }

      # The store's time now, from its clock at the claim.
      def now = @claimed_at + (monotonic_ms - @claimed_mono)

      # Records the decision and frees the lease, in one step; false when the
      # lease was lost meanwhile (it expired: the decision must not be acted
      # on). `pools`: name => the PoolRecord members to change (POOL_FIELDS).
      # News left before the claim is taken as seen.
      def settle(window_opens_at:, pools:, look_at: nil)
        pools.each_value do |changes|
          unknown = changes.keys - POOL_FIELDS
          raise ArgumentError, "unknown #{unknown.join(", ")}" if unknown.any?
        end
        @store.settle(@holder, @claimed_at, { window_opens_at: window_opens_at, look_at: look_at }, pools)
      end

      def release = @store.release(@holder)

      private

      def monotonic_ms = Process.clock_gettime(Process::CLOCK_MONOTONIC, :millisecond)
    end

    NOT_INSTALLED = "the coordination store is not installed, so each process decides alone: " \
                    "run `rails generate middle_management:install && rails db:migrate` " \
                    "(MiddleManagement::Store.install outside Rails) for the app to decide with one voice".freeze

    # The store of the first job library that offers one (Delayed Job's
    # table once installed, Sidekiq's or Resque's Redis), else this process's own.
    def self.choose(backends, app:, log:)
      backends.each do |backend|
        store = backend.store(app)
        return store if store
      end
      log.info(NOT_INSTALLED)
      Local.new
    end

    # A holder name for this process: new after a fork.
    def self.holder
      pid = Process.pid
      @holder = nil unless @holder_pid == pid
      @holder_pid = pid
      @holder ||= "#{ENV["DYNO"] || Socket.gethostname}:#{pid}:#{SecureRandom.hex(4)}"
    end

    # When a claim that did not get the lease may be tried again: a held
    # lease soon (its holder frees it in milliseconds, unless it died), a
    # gap once it has passed; and the app's next look (`app`: its AppRecord).
    def self.held(now, lease_expires_at, app, gap)
      lease_free_in = [lease_expires_at.to_i - now, LEASE_POLL].min
      gap_free_in = app.decided_at ? [app.decided_at + gap - now, gap].min : 0
      look_in = app.look_at && [app.look_at - now, 0].max / 1000.0
      Held.new(retry_in: [lease_free_in, gap_free_in, 0].max / 1000.0, look_in: look_in)
    end

    # Outside Rails: creates the SQL store's table in the jobs' database
    # (idempotent). Under Rails, `rails generate middle_management:install`
    # writes a migration instead. `model`: an ActiveRecord class on that
    # database; by default the loaded SQL job library's (Delayed Job's job
    # model, else GoodJob's, else Solid Queue's record class), the one its
    # backend keeps the store beside. Sidekiq and Resque keep the store in
    # their Redis, with nothing to install: where no SQL job library is
    # loaded there is no database to guess, and the error says what to pass.
    def self.install(model = nil)
      require "middle_management/backends" # where only the store was required
      model ||= [Backends::DelayedJob, Backends::GoodJob, Backends::SolidQueue].find(&:available?)&.model
      unless model.is_a?(Class) && defined?(::ActiveRecord::Base) && model <= ::ActiveRecord::Base
        got = model ? "got #{model.inspect}" : "no SQL job library (Delayed Job, GoodJob, Solid Queue) is loaded"
        raise Error, "MiddleManagement::Store.install needs an ActiveRecord model of the jobs' database (#{got}). " \
                     "Sidekiq and Resque keep the store in their Redis, which needs no install; for a database, " \
                     "pass a model of it: MiddleManagement::Store.install(SomeActiveRecordModel)"
      end

      SQL.new(model).install
    end
  end
end

require "middle_management/store/fields"
require "middle_management/store/local"
require "middle_management/store/sql"
require "middle_management/store/redis"

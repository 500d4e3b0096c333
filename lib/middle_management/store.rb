require "middle_management/errors"
require "middle_management/sql_time_limit"
require "securerandom"
require "socket"

module MiddleManagement
  # The app's shared decision state, in a store the app already has: one
  # short decision lease and one throttle window for the whole app, and per
  # pool (process type) what was last decided and sent. Every process of the
  # app (web, worker, console) goes through it, so the app speaks to Heroku
  # with one voice.
  #
  #   lease = store.claim(%w[worker urgent_worker], gap: 1000) # a Lease, or a Held saying when to try again
  #   lease.state("worker").quantity        # what was last sent to Heroku (nil: unknown)
  #   lease.settle(window_opens_at: lease.now + 10_000, pools: { "worker" => { quantity: 3, wanted: 3 } })
  #
  # A claim's `gap` (ms): none is granted within that long of the app's
  # last decision, unless a process left news, so news from many processes
  # costs the app one count per gap, not one each.
  #
  # Times are milliseconds since the epoch on the store's own clock (the
  # database's, Redis's), never a dyno's: `lease.now` is the store's time at
  # the claim plus what has elapsed since. Adapters: Store::SQL (ActiveRecord:
  # PostgreSQL, MySQL, SQLite), Store::Redis (Sidekiq's or Resque's Redis)
  # and Store::Local (this process only: the store is not installed).
  module Store
    LEASE_TTL = 5_000 # ms: a lease whose holder died frees itself this soon
    LEASE_POLL = 200 # ms: how soon a process that found the lease held tries again

    # A pool's record. `history`: the pacing's memory of recent wishes, opaque here.
    PoolState = Struct.new(:quantity, :wanted, :history, keyword_init: true)
    POOL_FIELDS = %i[quantity wanted history].freeze

    # The app's record. `pending_at`: the earliest news a process left
    # without deciding on it (it exited while the window was closed).
    AppState = Struct.new(:window_opens_at, :decided_at, :pending_at, keyword_init: true)

    # The lease is held by another process, or the app decided less than the
    # claim's gap ago: `retry_in` seconds to wait before trying again.
    Held = Struct.new(:retry_in, keyword_init: true) do
      def held? = true
    end

    # This process holds the app's lease until it settles or releases it.
    class Lease
      attr_reader :app, :claimed_at

      def initialize(store, holder, app, pools, now_ms)
        @store = store
        @holder = holder
        @app = app
        @pools = pools
        @claimed_at = now_ms
        @claimed_mono = monotonic_ms
      end

      def held? = false

      def state(pool) = @pools.fetch(pool) { PoolState.new }

      # The store's time now, from its clock at the claim.
      def now = @claimed_at + (monotonic_ms - @claimed_mono)

      # Records the decision and frees the lease, in one step; false when the
      # lease was lost meanwhile (it expired: the decision must not be acted
      # on). `pools`: name => the PoolState fields to change. News left
      # before the claim is taken as seen.
      def settle(window_opens_at:, pools:)
        pools.each_value do |changes|
          unknown = changes.keys - POOL_FIELDS
          raise ArgumentError, "unknown #{unknown.join(", ")}" if unknown.any?
        end
        @store.settle(@holder, @claimed_at, window_opens_at, pools)
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

    # The records from a store's fields (a row, a Redis hash: string keys;
    # times and quantities as integers or their text, "" or nil for none).
    def self.pool_state(fields)
      PoolState.new(quantity: integer(fields["quantity"]), wanted: integer(fields["wanted"]),
                    history: fields["history"])
    end

    def self.app_state(fields)
      AppState.new(window_opens_at: integer(fields["window_opens_at"]), decided_at: integer(fields["decided_at"]),
                   pending_at: integer(fields["pending_at"]))
    end

    def self.integer(value) = value.nil? || value == "" ? nil : Integer(value)
    private_class_method :integer

    # A holder name for this process: new after a fork.
    def self.holder
      pid = Process.pid
      @holder = nil unless @holder_pid == pid
      @holder_pid = pid
      @holder ||= "#{ENV["DYNO"] || Socket.gethostname}:#{pid}:#{SecureRandom.hex(4)}"
    end

    # When a claim that did not get the lease may be tried again. A held lease is tried again soon (its holder frees it in milliseconds,
    # unless it died), a gap once it has passed.
    def self.held(now, lease_expires_at, decided_at, gap)
      lease_free_in = [lease_expires_at.to_i - now.to_i, LEASE_POLL].min
      gap_free_in = decided_at ? decided_at.to_i + gap - now.to_i : 0
      Held.new(retry_in: [lease_free_in, gap_free_in, 0].max / 1000.0)
    end

    # Outside Rails: creates the SQL store's table in the jobs' database
    # (idempotent). Under Rails, `rails generate middle_management:install`
    # writes a migration instead.
    def self.install(model = ::Delayed::Backend::ActiveRecord::Job)
      SQL.new(model).install
    end
  end
end

require "middle_management/store/local"
require "middle_management/store/sql"
require "middle_management/store/redis"

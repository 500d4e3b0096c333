require "middle_management/errors"

module MiddleManagement
  # The app's shared decision state, in a store the app already has: one
  # record per pool (process type) holding a short decision lease, the
  # app-wide throttle window and what was last decided and sent. Every
  # process of the app (web, worker, console) goes through it, so the app
  # speaks to Heroku with one voice.
  #
  #   lease = store.claim("worker")           # a Lease, or a Held saying when to try again
  #   lease.state.quantity                     # what was last sent to Heroku (nil: unknown)
  #   lease.settle(wanted: 3, quantity: 3, window_opens_at: lease.now + 10)
  #
  # Times are milliseconds since the epoch on the store's own clock (the
  # database's, Redis's), never a dyno's: `lease.now` is the store's time at
  # the claim plus what has elapsed since. Adapters: Store::SQL (ActiveRecord:
  # PostgreSQL, MySQL, SQLite), Store::Redis (Sidekiq's or Resque's Redis)
  # and Store::Local (this process only: the store is not installed).
  module Store
    LEASE_TTL = 5_000 # ms: a lease whose holder died frees itself this soon

    # What the record holds. `pending_at`: the earliest news a process left
    # without deciding on it (it exited while the window was closed).
    # `history`: the pacing's memory of recent wishes, opaque here.
    State = Struct.new(:quantity, :window_opens_at, :wanted, :decided_at, :pending_at, :history, keyword_init: true)

    # What a settle may change.
    SETTLED = %i[quantity window_opens_at wanted history].freeze

    # The record is being decided on by another process until `until_ms`
    # (store time); `retry_in`: seconds to wait before trying again.
    Held = Struct.new(:retry_in, keyword_init: true) do
      def held? = true
    end

    # This process holds the record's lease until it settles or releases it.
    class Lease
      attr_reader :pool, :state

      def initialize(store, pool, holder, state, now_ms)
        @store = store
        @pool = pool
        @holder = holder
        @state = state
        @claimed_at = now_ms
        @claimed_mono = monotonic_ms
      end

      def held? = false

      # The store's time now, from its clock at the claim.
      def now = @claimed_at + (monotonic_ms - @claimed_mono)

      # When the claim was made, store time: news left before it is seen by
      # this lease's count.
      attr_reader :claimed_at

      # Records the decision and frees the lease, in one step; false when the
      # lease was lost meanwhile (it expired: the decision must not be acted on).
      def settle(**changes)
        unknown = changes.keys - SETTLED
        raise ArgumentError, "unknown #{unknown.join(", ")}" if unknown.any?

        @store.settle(@pool, @holder, claimed_at, changes)
      end

      def release = @store.release(@pool, @holder)

      private

      def monotonic_ms = Process.clock_gettime(Process::CLOCK_MONOTONIC, :millisecond)
    end

    # A holder name for this process: new after a fork.
    def self.holder
      pid = Process.pid
      @holder = nil unless @holder_pid == pid
      @holder_pid = pid
      @holder ||= "#{ENV["DYNO"] || Socket.gethostname}:#{pid}:#{SecureRandom.hex(4)}"
    end

    # Outside Rails: creates the SQL store's table in the jobs' database
    # (idempotent). Under Rails, `rails generate middle_management:install`
    # writes a migration instead.
    def self.install(model = ::Delayed::Backend::ActiveRecord::Job)
      SQL.new(model).install
    end
  end
end

require "securerandom"
require "socket"
require "middle_management/store/local"
require "middle_management/store/sql"
require "middle_management/store/redis"

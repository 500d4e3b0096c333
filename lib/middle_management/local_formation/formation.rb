require "monitor"
require "securerandom"
require "time"

module MiddleManagement
  module LocalFormation
    # The quantities of an app's process types: what `heroku ps` would show.
    #
    # Shared by the HTTP threads of the server and whoever watches it (tests,
    # the supervisor), so every access goes through one reentrant lock.
    # Listeners run inside that lock: they see changes in the order they were
    # made, and may read the formation back without deadlocking.
    class Formation
      DEFAULT_SIZE = "Standard-1X"
      # A type given an explicit limit is shown as Eco, whose limit is one a type.
      LIMITED_SIZE = "Eco"

      ProcessType = Struct.new(:type, :id, :command, :quantity, :size, :limit, :created_at, :updated_at,
                               keyword_init: true)
      # One requested change; nil fields stay as they are. `delta` (a
      # relative change, "+1" or "-1" from the CLI) applies to the quantity
      # at the moment of the update, never below 0.
      Update = Struct.new(:type, :quantity, :delta, :size, keyword_init: true)
      # One quantity change that happened.
      Change = Struct.new(:type, :from, :to, :at, keyword_init: true)

      class UnknownType < StandardError
        attr_reader :identity

        def initialize(identity)
          @identity = identity
          super("no process type #{identity}")
        end
      end

      # `size` is nil when the app's limit, across all types, is the one broken.
      class AboveLimit < StandardError
        attr_reader :limit, :size

        def initialize(limit, size = nil)
          @limit = limit
          @size = size
          super(size ? "cannot run more than #{limit} #{size} dynos per process type" : "cannot run more than #{limit} dynos")
        end
      end

      # quantities: {"worker" => 0}; commands: {"worker" => "bin/worker"};
      # limits: {"worker1" => 1} caps a type (and reports it as an Eco dyno).
      def initialize(quantities = {}, commands: {}, limits: {}, size: DEFAULT_SIZE)
        @lock = Monitor.new
        @changed = @lock.new_cond
        @listeners = []
        @history = []
        @default_size = size
        @types = {}
        quantities.each do |type, quantity|
          add(type.to_s, Integer(quantity), commands[type.to_s] || commands[type.to_sym], limits[type.to_s] || limits[type.to_sym])
        end
      end

      # Called with a Change for every quantity that changes, in order.
      def on_change(&listener)
        @lock.synchronize { @listeners << listener }
        self
      end

      def types = @lock.synchronize { @types.keys }

      def include?(type) = @lock.synchronize { @types.key?(type.to_s) }

      def quantity(type) = @lock.synchronize { @types[type.to_s]&.quantity }

      def quantities = @lock.synchronize { @types.transform_values(&:quantity) }

      # Copies, so callers never see a half-applied update.
      def all = @lock.synchronize { @types.values.map(&:dup) }

      # A process type by name or formation id, as Heroku's identity allows.
      def find(identity)
        @lock.synchronize { lookup(identity)&.dup }
      end

      def history = @lock.synchronize { @history.dup }

      def clear_history = @lock.synchronize { @history.clear }

      # Applies all updates or none (a batch that breaks a limit changes
      # nothing, as on Heroku). Returns the updated process types.
      def update(updates)
        @lock.synchronize do
          planned = updates.map { |update| plan(update) }
          check_limits!(planned)
          planned.map do |process, quantity, size|
            process.size = size
            change_quantity(process, quantity)
            process.updated_at = now
            process.dup
          end
        end
      end

      # Sets a quantity by hand, like `heroku ps:scale` from a terminal;
      # creates the type when it is new. Ignores limits on purpose.
      def set(type, quantity)
        @lock.synchronize do
          process = @types[type.to_s] || add(type.to_s, 0, nil, nil)
          change_quantity(process, Integer(quantity))
          process.updated_at = now
          quantity
        end
      end

      def limit(type, max)
        @lock.synchronize { (@types[type.to_s] || raise(UnknownType, type)).limit = max }
      end

      # Blocks until `type` has `quantity`; false after `timeout` seconds.
      def wait_for(type, quantity, timeout: 5)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        @lock.synchronize do
          until @types[type.to_s]&.quantity == quantity
            left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            return false if left <= 0

            @changed.wait(left)
          end
          true
        end
      end

      private

      def add(type, quantity, command, limit)
        created = now
        @types[type] = ProcessType.new(
          type: type, id: SecureRandom.uuid, command: command || "bin/#{type}", quantity: quantity,
          size: limit ? LIMITED_SIZE : @default_size, limit: limit, created_at: created, updated_at: created
        )
      end

      # [the process type, its quantity and size after the update].
      def plan(update)
        process = lookup(update.type) || raise(UnknownType, update.type)
        quantity = update.quantity || process.quantity
        quantity = [quantity + update.delta, 0].max if update.delta
        [process, quantity, update.size || process.size]
      end

      # Each type's limit at its new size, then the app's across all types.
      def check_limits!(planned)
        after = @types.transform_values(&:quantity)
        planned.each do |process, quantity, size|
          after[process.type] = quantity
          limit = process.limit || DynoSizes.per_type_limit(size)
          raise AboveLimit.new(limit, size) if limit && quantity > limit
        end
        raise AboveLimit.new(DynoSizes::APP_LIMIT) if after.values.sum > DynoSizes::APP_LIMIT
      end

      def lookup(identity)
        @types[identity.to_s] || @types.values.find { |process| process.id == identity.to_s }
      end

      def change_quantity(process, quantity)
        return if process.quantity == quantity

        change = Change.new(type: process.type, from: process.quantity, to: quantity, at: Time.now)
        process.quantity = quantity
        @history << change
        @listeners.each { |listener| listener.call(change) }
        @changed.broadcast
      end

      def now = Time.now.utc.iso8601
    end
  end
end

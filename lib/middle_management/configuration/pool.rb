require "middle_management/errors"
require "middle_management/internal/bridge"
require "middle_management/configuration/settings"

module MiddleManagement
  class Configuration
    # One group of workers scaled together: a Heroku process type (or, in
    # Eco/Basic mode, a list of types run at one dyno each) and the queues its
    # workers take jobs from.
    class Pool
      # JOBS_PER_WORKER=auto sizes by this until the jobs and a boot are
      # measured: the gem's default before it learned.
      FALLBACK_JOBS_PER_WORKER = 10
      OPTIONS = %i[queues excluded_queues min max jobs_per_worker rules process_types dyno_concurrency wake_lead].freeze

      attr_reader :name, :queues, :excluded_queues, :min, :max, :jobs_per_worker, :rules, :process_types,
                  :dyno_concurrency, :wake_lead

      def self.build(name, **options)
        unknown = options.keys - OPTIONS
        raise ConfigurationError, "pool #{name.inspect} has an unknown option #{unknown.first.inspect}" if unknown.any?

        new(name, **options)
      end

      def initialize(name, queues: nil, excluded_queues: [], min: 0, max: 1, jobs_per_worker: :auto, rules: nil,
                     process_types: nil, dyno_concurrency: 1, wake_lead: 30)
        label = "pool #{name.inspect}"
        @name = Settings.process_type("#{label} process type", name)
        @queues = queues && Settings.queues("#{label} queues", queues).freeze
        @excluded_queues = Array(excluded_queues).map(&:to_s).freeze
        @min = Settings.workers("#{label} min", min)
        @max = Settings.workers("#{label} max", max)
        @jobs_per_worker = Settings.jobs_per_worker("#{label} jobs_per_worker", jobs_per_worker)
        @rules = rules && Settings.rules("#{label} rules", rules)
        @process_types = process_types && Settings.process_types("#{label} process_types", process_types).freeze
        @dyno_concurrency = Settings.dyno_concurrency("#{label} dyno_concurrency", dyno_concurrency)
        @wake_lead = Settings.duration("#{label} wake_lead", wake_lead)
      end

      # The Heroku process types this pool sets.
      def formation_types
        process_types || [name]
      end

      def covers?(queue)
        queues ? queues.include?(queue.to_s) : !excluded_queues.include?(queue.to_s)
      end

      # Where a dyno stands in the pool's formation, the smallest quantity
      # that keeps it running: its number, or in Eco/Basic mode the place of
      # its type in the list (the types are turned on in order). Nil for a
      # dyno of another pool; :unknown where the name has no number.
      def position(dyno)
        if process_types
          (index = process_types.index(dyno.type)) && index + 1
        elsif dyno.type == name
          dyno.number || :unknown
        end
      end

      def learns? = jobs_per_worker == :auto

      # Eco/Basic dynos run one per process type, so the types listed are the ceiling.
      def capped_max
        process_types ? [max, process_types.size].min : max
      end

      # Said once at start when the Eco/Basic type list caps the configured max.
      def capped_note
        return unless capped_max < max

        "pool #{name}: max #{max} is capped at #{capped_max}, the number of process types " \
          "(#{process_types.join(", ")}); Eco and Basic dynos run one per type"
      end

      def validate!
        return self if max >= min

        raise ConfigurationError, "pool #{name.inspect} max must be at least its min (got max #{max}, min #{min})"
      end

      # What the native dispatcher is given for this pool.
      def to_native
        Internal::Bridge::PoolSettings.new(
          name: name, formation_types: formation_types, eco: !process_types.nil?, min: min, max: capped_max,
          jobs_per_worker: learns? ? FALLBACK_JOBS_PER_WORKER : jobs_per_worker, learn: learns?, rules: rules,
          dyno_concurrency: dyno_concurrency, wake_lead: wake_lead
        )
      end
    end
  end
end

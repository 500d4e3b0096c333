require "digest"

module MiddleManagement
  module LocalFormation
    # The dyno sizes a Common Runtime app may use, and Heroku's default
    # scaling limits for them (devcenter "Dyno Scaling and Process Limits").
    # Private- and Shield- sizes need a Private Space, which a local app is
    # not in, so Heroku would refuse them here too.
    module DynoSizes
      NAMES = %w[Eco Basic Standard-1X Standard-2X Performance-M Performance-L Performance-L-RAM
                 Performance-XL Performance-2XL].freeze
      # "By default, applications can run a total of 100 dynos across all process types."
      APP_LIMIT = 100
      # Eco and Basic: one dyno per process type; Performance: ten.
      PER_TYPE_LIMITS = { "Eco" => 1, "Basic" => 1 }.merge(NAMES.grep(/\APerformance-/).to_h { |name| [name, 10] }).freeze

      module_function

      # Heroku gives every size a fixed uuid; one derived from the name is as stable.
      def id(name) = LocalFormation.stable_id("dyno-size #{name.downcase}")

      # The size's canonical name from a name in any case (the CLI passes on
      # what the user typed: `ps:scale web=1:performance-l`) or its id; nil
      # when there is no such size.
      def canonical(name_or_id)
        text = name_or_id.to_s.downcase
        NAMES.find { |name| name.downcase == text || id(name) == text }
      end

      # The most dynos of one process type at this size; nil when only the
      # app's limit applies.
      def per_type_limit(name) = PER_TYPE_LIMITS[name]

      # Heroku's list of sizes in its error message: "A, B and C".
      def listed = "#{NAMES[0..-2].join(', ')} and #{NAMES.last}"
    end

    # A uuid that is the same for the same text in every run, for the
    # objects Heroku would give fixed ids (sizes, stacks, the local account).
    def self.stable_id(text) = Digest::SHA1.hexdigest(text).unpack("a8a4a4a4a12").join("-")
  end
end
